"""OpenAIBatchProvider (official SDK) against the OpenAI batch emulator, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from agentbatch.domain.messages import Message
from agentbatch.domain.model_io import ItemResult, ModelRequest, Outcome, ToolSpec
from agentbatch.errors import ConfigError, ProviderError, UnknownBatch
from agentbatch.providers.base import BatchProvider
from agentbatch.providers.openai_batch import OpenAIBatchProvider
from agentbatch.step.resolve import heartbeat_message
from agentbatch.testing.faults import FaultPlan, HttpFault
from agentbatch.testing.openai_emulator import OpenAIEmulator
from agentbatch.testing.server import BackgroundServer

TOOLS = tuple(
    ToolSpec(
        name,
        f"{name} tool",
        {
            "type": "object",
            "properties": {"q": {"type": "string"}, "request_heartbeat": {"type": "boolean"}},
            "required": ["q"],
        },
    )
    for name in ("search", "core_memory_append")
)
SCRIPT = [
    {
        "tool_calls": [
            {"tool": "search", "args": {"q": "{input}"}, "heartbeat": True},
            {"tool": "core_memory_append", "args": {"q": "{agent_id}"}, "heartbeat": False},
        ]
    },
    {"tool": "search", "args": {"q": "again"}, "heartbeat": True},
    {"text": "final answer for {agent_id}"},
]
SYSTEM = "You are a sleep-time memory agent. " + "Core memory block. " * 300


@pytest.fixture
def emulator() -> OpenAIEmulator:
    return OpenAIEmulator(SCRIPT, FaultPlan())


@pytest.fixture
def server(emulator: OpenAIEmulator) -> Iterator[BackgroundServer]:
    with emulator.serve() as srv:
        yield srv


@pytest.fixture
async def provider(server: BackgroundServer) -> AsyncIterator[OpenAIBatchProvider]:
    adapter = OpenAIBatchProvider(api_key="test-key", base_url=f"{server.url}/v1")
    yield adapter
    await adapter.aclose()


def request(agent: str, history: tuple[Message, ...], step: int = 0) -> ModelRequest:
    return ModelRequest(
        model="gpt-4.1-mini",
        system=SYSTEM,
        messages=history,
        tools=TOOLS,
        max_tokens=512,
        agent_id=agent,
        step=step,
    )


async def run_batch(
    provider: OpenAIBatchProvider, requests: dict[str, ModelRequest]
) -> dict[str, ItemResult]:
    entries = [provider.encode(cid, req) for cid, req in requests.items()]
    handle = await provider.submit("gpt-4.1-mini", entries)
    for _ in range(20):
        if (await provider.poll(handle)).ended:
            break
    results = {r.custom_id: r async for r in provider.results(handle)}
    await provider.cleanup(handle)
    return results


def apply(
    history: tuple[Message, ...], result: ItemResult, fail_second: bool
) -> tuple[Message, ...]:
    """What the runtime would persist: the assistant turn, each tool's result, a heartbeat."""
    assert result.outcome == Outcome.SUCCEEDED, result.error
    assert result.response is not None
    response = result.response
    out = [
        *history,
        Message(
            role="assistant",
            content=response.content,
            tool_calls=response.tool_calls,
            kind="assistant",
        ),
    ]
    for i, call in enumerate(response.tool_calls):
        failed = fail_second and i == 1
        content = f"error: {call.name} failed" if failed else f"{call.name} ok"
        out.append(
            Message(
                role="tool", tool_call_id=call.id, content=content, is_error=failed, kind="tool"
            )
        )
    out.append(heartbeat_message("the tools ran; continue"))  # as the runtime words it
    return tuple(out)


def test_provider_satisfies_the_protocol(provider: OpenAIBatchProvider) -> None:
    assert isinstance(provider, BatchProvider)
    assert provider.name == "openai"
    assert (provider.limits.max_requests, provider.limits.max_bytes) == (50_000, 200 * 1024 * 1024)


async def test_multi_turn_agents_never_get_400_lines(
    provider: OpenAIBatchProvider, emulator: OpenAIEmulator
) -> None:
    agents = [f"agent-{i}" for i in range(12)]
    histories: dict[str, tuple[Message, ...]] = {
        a: (Message.user(f"remember fact {a}"),) for a in agents
    }
    for step in range(3):
        requests = {f"{a}-s{step}": request(a, histories[a], step) for a in agents}
        results = await run_batch(provider, requests)
        assert set(results) == set(requests)
        for agent in agents:
            result = results[f"{agent}-s{step}"]
            assert result.outcome == Outcome.SUCCEEDED, result.error
            assert result.response is not None
            if step == 0:
                calls = result.response.tool_calls
                assert [c.name for c in calls] == ["search", "core_memory_append"]
                assert all(c.id.startswith("call_") for c in calls)
                assert len({c.id for c in calls}) == 2
                assert json.loads(calls[0].arguments)["request_heartbeat"] is True
                assert result.response.stop_reason == "tool_use"
            if step < 2:
                histories[agent] = apply(histories[agent], result, fail_second=agent.endswith("3"))
            else:
                assert result.response.content == f"final answer for {agent}"
                assert result.response.stop_reason == "end_turn"
    # the replayed ids are the provider's own
    last = histories["agent-0"]
    body = provider.encode("x", request("agent-0", last))["body"]
    sent = [c["id"] for m in body["messages"] for c in m.get("tool_calls", [])]
    kept = [c.id for m in last for c in m.tool_calls]
    assert sent == kept
    assert emulator.state.files == {}  # every input, output and error file was deleted


async def test_usage_maps_cached_prompt_tokens(provider: OpenAIBatchProvider) -> None:
    history = (Message.user("hello"),)
    first = (await run_batch(provider, {"a": request("agent-a", history)}))["a"]
    assert first.response is not None and first.response.usage.cache_read_tokens == 0
    assert first.response.usage.input_tokens > 1024
    second = (await run_batch(provider, {"b": request("agent-b", history)}))["b"]
    assert second.response is not None
    usage = second.response.usage
    assert usage.cache_read_tokens >= 1024 and usage.output_tokens > 0
    assert usage.input_tokens + usage.cache_read_tokens == first.response.usage.input_tokens


async def test_item_outcomes_expired_cancelled_errored(
    provider: OpenAIBatchProvider, emulator: OpenAIEmulator
) -> None:
    emulator.faults.item_outcomes.update({"b": "expired", "c": "canceled", "d": "errored"})
    history = (Message.user("x"),)
    results = await run_batch(provider, {c: request(f"agent-{c}", history) for c in "abcd"})
    assert {c: r.outcome for c, r in results.items()} == {
        "a": Outcome.SUCCEEDED,
        "b": Outcome.EXPIRED,
        "c": Outcome.CANCELED,
        "d": Outcome.ERRORED,
    }
    assert "HTTP 500" in (results["d"].error or "")


async def test_cancel_in_flight_and_expiry(
    provider: OpenAIBatchProvider, emulator: OpenAIEmulator
) -> None:
    emulator.faults.polls_in_progress = 3
    entries = [provider.encode(c, request(f"agent-{c}", (Message.user("x"),))) for c in "abcd"]
    handle = await provider.submit("gpt-4.1-mini", entries)
    progress = await provider.poll(handle)
    assert not progress.ended and progress.status == "in_progress"
    assert progress.counts == {"total": 4, "completed": 1, "failed": 0}
    await provider.cancel(handle)
    final = await provider.poll(handle)
    assert final.ended and final.status == "cancelled"
    outcomes = sorted(r.outcome for r in [r async for r in provider.results(handle)])
    assert outcomes == sorted([Outcome.SUCCEEDED] + [Outcome.CANCELED] * 3)
    await provider.cancel(handle)  # cancelling an ended batch is harmless

    other = await provider.submit("gpt-4.1-mini", entries)
    await provider.poll(other)
    emulator.expire(other)
    assert (await provider.poll(other)).status == "expired"
    expired = [r async for r in provider.results(other)]
    assert sum(r.outcome == Outcome.EXPIRED for r in expired) == 3


async def test_failed_batch_reports_every_item_errored(provider: OpenAIBatchProvider) -> None:
    entry = provider.encode("dup", request("agent-1", (Message.user("x"),)))
    other = provider.encode("other", request("agent-2", (Message.user("y"),)))
    handle = await provider.submit("gpt-4.1-mini", [entry, other, entry])
    status = await provider.poll(handle)
    assert status.ended and status.status == "failed"
    results = {r.custom_id: r async for r in provider.results(handle)}
    assert set(results) == {"dup", "other"}
    assert all(r.outcome == Outcome.ERRORED for r in results.values())
    assert "duplicate_custom_id" in (results["dup"].error or "")
    assert "(line 3)" in (results["dup"].error or "")
    assert "duplicate_custom_id" in (results["other"].error or "")


@pytest.mark.parametrize(
    ("fault", "retryable", "retry_after"),
    [
        (HttpFault(429, path_contains="/files", retry_after=7), True, 7.0),
        (HttpFault(500, path_contains="/batches"), True, None),
        (HttpFault(503, path_contains="/files"), True, None),
        (HttpFault(400, path_contains="/batches"), False, None),
    ],
)
async def test_submit_errors_map_to_provider_error(
    provider: OpenAIBatchProvider,
    emulator: OpenAIEmulator,
    fault: HttpFault,
    retryable: bool,
    retry_after: float | None,
) -> None:
    emulator.faults.http.append(fault)
    entries = [provider.encode("a", request("agent-a", (Message.user("x"),)))]
    with pytest.raises(ProviderError) as caught:
        await provider.submit("gpt-4.1-mini", entries)
    assert caught.value.retryable is retryable
    assert caught.value.retry_after == retry_after
    assert f"HTTP {fault.status}" in str(caught.value)
    assert emulator.state.files == {}  # an upload whose batch was not created is removed
    assert await provider.submit("gpt-4.1-mini", entries)  # the fault is used up


async def test_unknown_batch_and_bad_key(
    provider: OpenAIBatchProvider, server: BackgroundServer
) -> None:
    with pytest.raises(UnknownBatch):
        await provider.poll("batch_does_not_exist")
    with pytest.raises(UnknownBatch):
        await provider.cancel("batch_does_not_exist")
    await provider.cleanup("batch_does_not_exist")  # nothing to clean: fine
    locked = OpenAIEmulator(SCRIPT, api_key="right")
    with locked.serve() as srv:
        wrong = OpenAIBatchProvider(api_key="wrong", base_url=f"{srv.url}/v1")
        with pytest.raises(ProviderError) as caught:
            await wrong.poll("batch_x")
        await wrong.aclose()
    assert caught.value.retryable is False and "401" in str(caught.value)
    assert "wrong" not in str(caught.value)


async def test_network_failure_is_retryable() -> None:
    dead = OpenAIBatchProvider(api_key="k", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ProviderError) as caught:
        await dead.poll("batch_x")
    await dead.aclose()
    assert caught.value.retryable is True


async def test_configuration_from_environment(
    monkeypatch: pytest.MonkeyPatch, server: BackgroundServer
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError):
        OpenAIBatchProvider()
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    adapter = OpenAIBatchProvider()
    with pytest.raises(UnknownBatch):  # a 404 from the emulator, not a network error
        await adapter.poll("batch_unknown")
    await adapter.aclose()


def _entries(provider: OpenAIBatchProvider, n: int) -> list[dict[str, Any]]:
    return [provider.encode(f"r{i}", request(f"agent-{i}", (Message.user("x"),))) for i in range(n)]


async def test_oversized_input_is_refused_before_upload(
    provider: OpenAIBatchProvider, emulator: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provider, "limits", type(provider.limits)(max_requests=10, max_bytes=1000))
    with pytest.raises(ProviderError, match="over the 1000 limit"):
        await provider.submit("gpt-4.1-mini", _entries(provider, 2))
    assert emulator.state.files == {}
