"""OpenAICompatibleProvider: a batch as concurrent chat-completion calls to the emulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from agentbatch.domain.messages import Message
from agentbatch.domain.model_io import ItemResult, ModelRequest, Outcome, ToolSpec
from agentbatch.errors import UnknownBatch
from agentbatch.providers.base import BatchProvider
from agentbatch.providers.openai_compatible import OpenAICompatibleProvider
from agentbatch.testing.faults import ContentFault, FaultPlan, HttpFault
from agentbatch.testing.openai_emulator import OpenAIEmulator
from agentbatch.testing.server import BackgroundServer

SEARCH = ToolSpec("search", "search", {"type": "object", "properties": {"q": {"type": "string"}}})
SCRIPT = [{"tool": "search", "args": {"q": "{input}"}, "heartbeat": True}, {"text": "done"}]


@pytest.fixture
def emulator() -> OpenAIEmulator:
    return OpenAIEmulator(SCRIPT, FaultPlan())


@pytest.fixture
def server(emulator: OpenAIEmulator) -> Iterator[BackgroundServer]:
    with emulator.serve() as srv:
        yield srv


@pytest.fixture
async def provider(server: BackgroundServer) -> AsyncIterator[OpenAICompatibleProvider]:
    adapter = OpenAICompatibleProvider(f"{server.url}/v1", concurrency=3)
    yield adapter
    await adapter.aclose()


def entries(provider: OpenAICompatibleProvider, n: int, prefix: str = "r") -> list[dict[str, Any]]:
    return [
        provider.encode(
            f"{prefix}{i}",
            ModelRequest(
                model="qwen", system="sys", messages=(Message.user(f"q{i}"),), tools=(SEARCH,)
            ),
        )
        for i in range(n)
    ]


async def finish(provider: OpenAICompatibleProvider, handle: str) -> dict[str, ItemResult]:
    for _ in range(500):
        if (await provider.poll(handle)).ended:
            return {r.custom_id: r async for r in provider.results(handle)}
        await asyncio.sleep(0.01)
    raise AssertionError("batch did not end")


def test_protocol_and_encoding(provider: OpenAICompatibleProvider) -> None:
    assert isinstance(provider, BatchProvider) and provider.name == "openai-compatible"
    body = entries(provider, 1)[0]["body"]
    assert body["max_tokens"] == 1024 and "max_completion_tokens" not in body
    assert "prompt_cache_key" not in body


async def test_concurrency_is_bounded_across_batches(
    provider: OpenAICompatibleProvider, emulator: OpenAIEmulator
) -> None:
    emulator.faults.delay_s = 0.05
    first = await provider.submit("qwen", entries(provider, 12, "a"))
    second = await provider.submit("qwen", entries(provider, 6, "b"))
    progress = await provider.poll(first)
    assert not progress.ended and progress.counts["total"] == 12
    results = {**await finish(provider, first), **await finish(provider, second)}
    assert len(results) == 18 and all(r.outcome == Outcome.SUCCEEDED for r in results.values())
    assert emulator.chat_calls == 18
    assert 2 <= emulator.max_concurrent_chat <= 3
    calls = results["a4"].response.tool_calls if results["a4"].response else ()
    assert calls[0].id.startswith("call_") and json.loads(calls[0].arguments)["q"] == "q4"
    assert (await provider.poll(first)).counts == {
        "total": 12,
        "completed": 12,
        "failed": 0,
        "pending": 0,
    }


async def test_failed_calls_are_errored_items(
    provider: OpenAICompatibleProvider, emulator: OpenAIEmulator
) -> None:
    emulator.faults.content_outcomes.append(ContentFault("q1", "errored"))
    emulator.faults.http.append(HttpFault(429, path_contains="/chat", retry_after=1))
    results = await finish(provider, await provider.submit("qwen", entries(provider, 4)))
    errored = {c: r.error for c, r in results.items() if r.outcome == Outcome.ERRORED}
    assert len(errored) == 2
    assert "HTTP 500" in (errored.pop("r1") or "")
    assert "HTTP 429" in (next(iter(errored.values())) or "")


async def test_a_bad_request_is_errored_not_fatal(provider: OpenAICompatibleProvider) -> None:
    bad = {
        "custom_id": "bad",
        "body": {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
    }
    results = await finish(provider, await provider.submit("qwen", [bad, *entries(provider, 1)]))
    assert results["bad"].outcome == Outcome.ERRORED and "HTTP 400" in (results["bad"].error or "")
    assert results["r0"].outcome == Outcome.SUCCEEDED


async def test_cancel_stops_pending_calls(
    provider: OpenAICompatibleProvider, emulator: OpenAIEmulator
) -> None:
    emulator.faults.delay_s = 0.2
    handle = await provider.submit("qwen", entries(provider, 10))
    for _ in range(2000):  # cancel once some calls answered (waiting on state, not time)
        if (await provider.poll(handle)).counts["completed"] >= 1:
            break
        await asyncio.sleep(0.01)
    await provider.cancel(handle)
    status = await provider.poll(handle)
    assert status.ended
    results = [r async for r in provider.results(handle)]
    outcomes = [r.outcome for r in results]
    assert len(results) == 10
    assert Outcome.CANCELED in outcomes and Outcome.SUCCEEDED in outcomes
    assert set(outcomes) <= {Outcome.SUCCEEDED, Outcome.CANCELED}
    assert emulator.chat_calls < 10


async def test_unknown_handles(
    provider: OpenAICompatibleProvider, server: BackgroundServer
) -> None:
    with pytest.raises(UnknownBatch):
        await provider.poll("ocb_missing")
    with pytest.raises(UnknownBatch):
        await provider.cancel("ocb_missing")
    handle = await provider.submit("qwen", entries(provider, 1))
    await finish(provider, handle)
    await provider.cleanup(handle)
    with pytest.raises(UnknownBatch):
        [r async for r in provider.results(handle)]
    restarted = OpenAICompatibleProvider(f"{server.url}/v1")
    other = await provider.submit("qwen", entries(provider, 1))
    with pytest.raises(UnknownBatch):
        await restarted.poll(other)
    await restarted.aclose()
