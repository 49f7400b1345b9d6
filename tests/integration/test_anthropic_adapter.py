"""The Anthropic batch adapter against the emulator, over real HTTP through the official SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest

from agentbatch.domain.messages import Message, ToolCall
from agentbatch.domain.model_io import ItemResult, ModelRequest, ModelResponse, Outcome, ToolSpec
from agentbatch.errors import ConfigError, ProviderError, UnknownBatch
from agentbatch.providers.anthropic import AnthropicBatchProvider
from agentbatch.providers.base import BatchProvider
from agentbatch.step.resolve import heartbeat_message
from agentbatch.testing.anthropic import AnthropicEmulator
from agentbatch.testing.faults import FaultPlan, HttpFault
from agentbatch.testing.server import BackgroundServer, free_port

SYSTEM = "You are a memory agent.\n<memory>\n" + "persona: careful and brief. " * 40 + "\n</memory>"
TOOLS = (
    ToolSpec(
        "note", "Write a note", {"type": "object", "properties": {"text": {"type": "string"}}}
    ),
    ToolSpec("search", "Search notes", {"type": "object", "properties": {"q": {"type": "string"}}}),
    ToolSpec(
        "send_message", "Reply", {"type": "object", "properties": {"message": {"type": "string"}}}
    ),
)
SCRIPT: list[dict[str, Any]] = [
    {
        "reasoning": "Two lookups first.",
        "tool_calls": [
            {"tool": "search", "args": {"q": "{input}"}, "heartbeat": True},
            {"tool": "note", "args": {"text": "asked about {input}"}, "heartbeat": True},
        ],
    },
    {"tool": "note", "raw_arguments": "{text: unquoted"},
    {"text": "Here is what I found."},
]


@pytest.fixture
def emu() -> AnthropicEmulator:
    return AnthropicEmulator(SCRIPT, FaultPlan())


@pytest.fixture
def srv(emu: AnthropicEmulator) -> Iterator[BackgroundServer]:
    with emu.serve() as server:
        yield server


@pytest.fixture
async def provider(srv: BackgroundServer) -> AsyncIterator[AnthropicBatchProvider]:
    p = AnthropicBatchProvider(api_key="test-key", base_url=srv.url, delete_on_cleanup=True)
    yield p
    await p.aclose()


def make_request(*messages: Message, **kw: Any) -> ModelRequest:
    kw.setdefault("tools", TOOLS)
    return ModelRequest(model="claude-sonnet-4-5", system=SYSTEM, messages=messages, **kw)


async def run_batch(
    provider: AnthropicBatchProvider, entries: Sequence[dict[str, Any]]
) -> dict[str, ItemResult]:
    handle = await provider.submit("claude-sonnet-4-5", entries)
    for _ in range(20):
        polled = await provider.poll(handle)
        if polled.ended:
            break
    assert polled.ended and sum(polled.counts.values()) == len(entries)
    return {item.custom_id: item async for item in provider.results(handle)}


def as_history(response: ModelResponse) -> list[Message]:
    """What the runtime stores after a step: the assistant turn, its tool results, a heartbeat."""
    out = [
        Message(
            role="assistant",
            content=response.content,
            reasoning=response.reasoning,
            reasoning_signature=response.reasoning_signature,
            tool_calls=response.tool_calls,
            kind="assistant",
        )
    ]
    for c in response.tool_calls:
        out.append(
            Message(
                role="tool", content=f"{c.name} ran", tool_call_id=c.id, name=c.name, kind="tool"
            )
        )
    if response.tool_calls:
        out.append(heartbeat_message("the tools ran; continue"))  # as the runtime words it
    return out


def test_it_is_a_batch_provider() -> None:
    provider = AnthropicBatchProvider(api_key="k")
    assert isinstance(provider, BatchProvider)
    assert provider.name == "anthropic" and provider.limits.max_requests == 100_000
    assert provider.limits.max_bytes == 256 * 1024 * 1024


async def test_multi_step_agent_keeps_ids_reasoning_and_cache(
    provider: AnthropicBatchProvider,
) -> None:
    history: list[Message] = [Message.user("the moon")]
    steps: list[ModelResponse] = []
    for step in range(3):
        entry = provider.encode(f"run1-s{step}-a1", make_request(*history))
        item = (await run_batch(provider, [entry]))[f"run1-s{step}-a1"]
        assert item.outcome is Outcome.SUCCEEDED, item.error
        assert item.response is not None
        steps.append(item.response)
        history.extend(as_history(item.response))

    first, second, last = steps
    assert first.reasoning == "Two lookups first." and first.reasoning_signature
    assert [c.name for c in first.tool_calls] == ["search", "note"]
    assert all(c.id.startswith("toolu_") for c in first.tool_calls)
    assert json.loads(first.tool_calls[0].arguments) == {"q": "the moon", "request_heartbeat": True}
    assert first.stop_reason == "tool_use"
    assert second.tool_calls[0].arguments == "{text: unquoted"  # malformed, given back verbatim
    assert last.content == "Here is what I found." and last.stop_reason == "end_turn"

    # the provider's ids and the signed reasoning went back on the wire unchanged
    replay = provider.encode("x", make_request(*history))["params"]["messages"]
    sent_ids = [b["id"] for t in replay for b in t["content"] if b["type"] == "tool_use"]
    assert sent_ids == [c.id for s in steps for c in s.tool_calls]
    assert replay[1]["content"][0] == {
        "type": "thinking",
        "thinking": "Two lookups first.",
        "signature": first.reasoning_signature,
    }
    # the tools + system prefix is written once, then read
    assert first.usage.cache_write_tokens > 0 and first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens >= first.usage.cache_write_tokens
    assert last.usage.cache_read_tokens >= first.usage.cache_write_tokens


def _call(cid: str, name: str = "note", args: str = '{"text": "x"}') -> ToolCall:
    return ToolCall(id=cid, name=name, arguments=args)


def _assistant(content: str | None, *calls: ToolCall, **kw: Any) -> Message:
    return Message(role="assistant", content=content, tool_calls=calls, kind="assistant", **kw)


def _tool(cid: str, content: str = "done", is_error: bool = False) -> Message:
    return Message(
        role="tool", content=content, tool_call_id=cid, name="note", is_error=is_error, kind="tool"
    )


TRICKY: dict[str, tuple[tuple[Message, ...], dict[str, Any]]] = {
    "first_input": ((Message.user("hello"),), {}),
    "parallel_calls_then_heartbeat": (
        (
            Message.user("q"),
            _assistant("Looking.", _call("toolu_a"), _call("toolu_b", "search", '{"q": "z"}')),
            _tool("toolu_a"),
            _tool("toolu_b", "nothing found", is_error=True),
            Message.user("[heartbeat] continue", kind="heartbeat"),
        ),
        {},
    ),
    "text_only_turns": (
        (
            Message.user("hi"),
            _assistant("Hello!"),
            Message.user("and now?"),
            _assistant(""),
            Message.user("?"),
        ),
        {},
    ),
    "unsigned_reasoning": (
        (Message.user("q"), _assistant("a", reasoning="secret thoughts"), Message.user("more")),
        {},
    ),
    "empty_and_blank_results": (
        (
            Message.user("q"),
            _assistant(None, _call("toolu_c"), _call("toolu_d")),
            _tool("toolu_c", ""),
            _tool("toolu_d", "  "),
        ),
        {},
    ),
    "malformed_stored_arguments": (
        (
            Message.user("q"),
            _assistant(None, _call("toolu_e", args="{oops")),
            _tool("toolu_e", "bad args", True),
        ),
        {},
    ),
    "interrupted_call": ((Message.user("q"), _assistant("calling", _call("toolu_f"))), {}),
    "trimmed_window": ((_tool("toolu_old"), _assistant("earlier"), Message.user("now")), {}),
    "foreign_ids_repeated": (
        (
            Message.user("q"),
            _assistant(None, _call("call:1")),
            _tool("call:1"),
            _assistant(None, _call("call:1")),
            _tool("call:1"),
        ),
        {},
    ),
    "required_choice": ((Message.user("q"),), {"tool_choice": "required"}),
    "none_choice_after_calls": (
        (Message.user("q"), _assistant(None, _call("toolu_g")), _tool("toolu_g")),
        {"tool_choice": "none"},
    ),
    "tools_detached": (
        (Message.user("q"), _assistant(None, _call("toolu_h")), _tool("toolu_h")),
        {"tools": ()},
    ),
    "hot_temperature": ((Message.user("q"),), {"temperature": 1.8}),
}


async def test_tricky_histories_are_never_rejected(provider: AnthropicBatchProvider) -> None:
    entries = [
        provider.encode(name, make_request(*msgs, **kw)) for name, (msgs, kw) in TRICKY.items()
    ]
    results = await run_batch(provider, entries)
    assert set(results) == set(TRICKY)
    rejected = {cid: r.error for cid, r in results.items() if r.outcome is not Outcome.SUCCEEDED}
    assert rejected == {}


async def test_item_outcomes_are_mapped(
    provider: AnthropicBatchProvider, emu: AnthropicEmulator
) -> None:
    emu.faults.item_outcomes.update({"e": "errored", "x": "expired"})
    bad = provider.encode("bad", make_request(Message.user("q")))
    bad["params"]["messages"].insert(0, {"role": "assistant", "content": "x"})  # hand-broken
    entries = [provider.encode(c, make_request(Message.user("q"))) for c in ("e", "x", "ok")]
    results = await run_batch(provider, [*entries, bad])
    assert results["ok"].outcome is Outcome.SUCCEEDED
    assert results["e"].outcome is Outcome.ERRORED and (results["e"].error or "").startswith(
        "api_error: "
    )
    assert results["x"].outcome is Outcome.EXPIRED and results["x"].response is None
    assert (results["bad"].error or "").startswith("invalid_request_error: messages.0.role")


async def test_cancel_in_flight_then_cleanup(
    provider: AnthropicBatchProvider, emu: AnthropicEmulator
) -> None:
    emu.faults.polls_in_progress = 3
    entries = [provider.encode(f"c{i}", make_request(Message.user("q"))) for i in range(4)]
    handle = await provider.submit("claude-sonnet-4-5", entries)
    assert not (await provider.poll(handle)).ended
    await provider.cancel(handle)
    polled = await provider.poll(handle)
    assert polled.ended and polled.counts["canceled"] == 3 and polled.counts["succeeded"] == 1
    await provider.cancel(handle)  # cancelling an ended batch is harmless
    outcomes = sorted([item.outcome.value async for item in provider.results(handle)])
    assert outcomes == ["canceled", "canceled", "canceled", "succeeded"]
    await provider.cleanup(handle)
    with pytest.raises(UnknownBatch):
        await provider.poll(handle)


async def test_http_errors_map_to_provider_errors(
    provider: AnthropicBatchProvider, emu: AnthropicEmulator
) -> None:
    entry = provider.encode("a", make_request(Message.user("q")))
    emu.faults.http.append(HttpFault(429, method="POST", retry_after=2.5))
    with pytest.raises(ProviderError) as limited:
        await provider.submit("m", [entry])
    assert limited.value.retryable and limited.value.retry_after == 2.5
    assert "rate_limit_error" in str(limited.value) and "test-key" not in str(limited.value)

    emu.faults.http.append(HttpFault(500, method="GET"))
    handle = await provider.submit("m", [entry])
    with pytest.raises(ProviderError) as server_error:
        await provider.poll(handle)
    assert server_error.value.retryable and not isinstance(server_error.value, UnknownBatch)

    with pytest.raises(ProviderError) as refused:
        await provider.submit("m", [])
    assert not refused.value.retryable and "invalid_request_error" in str(refused.value)

    for action in (provider.poll, provider.cancel):
        with pytest.raises(UnknownBatch):
            await action("msgbatch_unknown")
    with pytest.raises(UnknownBatch):
        async for _ in provider.results("msgbatch_unknown"):
            pass


async def test_wrong_key_is_not_retryable(srv: BackgroundServer, emu: AnthropicEmulator) -> None:
    emu.api_key = "the-right-key"
    provider = AnthropicBatchProvider(api_key="a-wrong-key", base_url=srv.url)
    with pytest.raises(ProviderError) as denied:
        await provider.poll("msgbatch_x")
    assert not denied.value.retryable and "authentication_error" in str(denied.value)
    assert "a-wrong-key" not in str(denied.value)
    await provider.aclose()


async def test_unreachable_server_is_retryable() -> None:
    provider = AnthropicBatchProvider(api_key="k", base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ProviderError) as unreachable:
        await provider.poll("msgbatch_x")
    assert unreachable.value.retryable
    await provider.aclose()


async def test_configuration_from_the_environment(
    srv: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError):
        await AnthropicBatchProvider(base_url=srv.url).poll("msgbatch_x")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.url)
    provider = AnthropicBatchProvider()
    results = await run_batch(provider, [provider.encode("env", make_request(Message.user("q")))])
    assert results["env"].outcome is Outcome.SUCCEEDED
    await provider.aclose()


async def test_a_resent_request_counts_as_the_next_attempt(
    provider: AnthropicBatchProvider, emu: AnthropicEmulator
) -> None:
    emu.script = [{"text": "finally", "fail": ["errored", "expired"]}]
    request = make_request(Message.user("q"), agent_id="agent-7")
    entry = provider.encode("a1", request)
    assert entry["params"]["metadata"] == {"user_id": "agent-7"}
    outcomes = []
    for attempt in range(1, 4):
        item = (await run_batch(provider, [provider.encode(f"a{attempt}", request)]))[f"a{attempt}"]
        outcomes.append(item.outcome)
    assert outcomes == [Outcome.ERRORED, Outcome.EXPIRED, Outcome.SUCCEEDED]
    other_agent = make_request(Message.user("q"), agent_id="agent-8")
    first = (await run_batch(provider, [provider.encode("b1", other_agent)]))["b1"]
    assert first.outcome is Outcome.ERRORED and "scripted errored on attempt 1" in (
        first.error or ""
    )
