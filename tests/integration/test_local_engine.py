"""The ``local/`` provider: the embedded SmolLM2 model answers with valid, allowed tool calls,
and batches behave like a provider's (submit, poll, results, cancel, unknown handles).

Tests marked ``local_model`` need ``agentbatch[local]`` and are skipped without it; the
batch-semantics tests with a stand-in model run everywhere.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from agentbatch.domain.messages import Message, ToolCall
from agentbatch.domain.model_io import ModelRequest, ModelResponse, Outcome, ToolSpec
from agentbatch.errors import ConfigError, UnknownBatch
from agentbatch.providers.base import BatchProvider
from agentbatch.providers.local import (
    LocalProvider,
    generate,
    request_from_dict,
    request_to_dict,
)
from agentbatch.providers.local.amx import amx_is_unsafe
from agentbatch.providers.local.engine import ensure_available


def _missing_reason() -> str | None:
    try:
        ensure_available()
    except ConfigError as exc:
        return str(exc)
    return None


_MISSING = _missing_reason()


def needs_model(test: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``test`` as needing the embedded model; skip it with the reason when absent."""
    skip = pytest.mark.skipif(
        _MISSING is not None, reason=f"embedded model unavailable: {_MISSING}"
    )
    return pytest.mark.local_model(skip(test))


HEARTBEAT = {"request_heartbeat": {"type": "boolean", "description": "Request another step."}}
APPEND = ToolSpec(
    "core_memory_append",
    "Append text to a core memory block.",
    {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": ["human", "persona"]},
            "content": {"type": "string", "description": "Text to append."},
            **HEARTBEAT,
        },
        "required": ["label", "content"],
    },
)
SEND = ToolSpec(
    "send_message",
    "Send a message to the human user.",
    {
        "type": "object",
        "properties": {"message": {"type": "string"}, **HEARTBEAT},
        "required": ["message"],
    },
)
SYSTEM = (
    "You are Sam, a helpful assistant with memory.\n<memory>\n<human>Name: unknown</human>\n"
    "<persona>I am Sam, friendly and curious.</persona>\n</memory>"
)
PROMPTS = [
    "Hi, my name is Alice and I love hiking.",
    "What is the capital of France?",
    "Please remember that I live in Oslo.",
    "Tell me a short joke.",
]


def _request(text: str, tools: tuple[ToolSpec, ...] = (APPEND, SEND), **kw: Any) -> ModelRequest:
    return ModelRequest(
        model="smollm2", system=SYSTEM, messages=(Message.user(text),), tools=tools, **kw
    )


def _assert_valid(schema: dict[str, Any], instance: Any) -> None:
    try:
        import jsonschema
    except ImportError:
        jsonschema_rs = pytest.importorskip("jsonschema_rs", reason="no JSON-schema validator")
        jsonschema_rs.validate(schema, instance)
    else:
        jsonschema.validate(instance, schema)


def _assert_valid_call(response: ModelResponse, tools: tuple[ToolSpec, ...]) -> dict[str, Any]:
    assert response.stop_reason == "tool_use"
    assert response.model == "smollm2"
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert len(response.tool_calls) == 1
    call = response.tool_calls[0]
    assert call.id.startswith("call_")
    by_name = {t.name: t for t in tools}
    assert call.name in by_name
    arguments: dict[str, Any] = json.loads(call.arguments)
    _assert_valid(dict(by_name[call.name].parameters), arguments)
    assert isinstance(arguments["request_heartbeat"], bool)
    return {"name": call.name, **arguments}


async def _wait_ended(provider: BatchProvider, handle: str, within: float = 60.0) -> dict[str, int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        polled = await provider.poll(handle)
        if polled.ended:
            assert polled.status == "ended"
            return polled.counts
        assert polled.status in ("in_progress", "canceling")
        await asyncio.sleep(0.05)
    raise AssertionError(f"batch {handle} did not end within {within}s")


async def _results(provider: BatchProvider, handle: str) -> dict[str, Any]:
    return {r.custom_id: r async for r in provider.results(handle)}


# -- the embedded model ----------------------------------------------------------------


@needs_model
def test_every_answer_is_one_valid_call_to_an_allowed_tool() -> None:
    for text in PROMPTS:
        _assert_valid_call(generate(_request(text)), (APPEND, SEND))


LOG = ToolSpec(
    "log_event",
    "Log an event with free-form details.",
    {
        "type": "object",
        "properties": {
            "event": {"type": "object"},
            "note": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "count": {"type": "integer"},
            "anything": {},
            **HEARTBEAT,
        },
        "required": ["event", "tags", "count", "anything"],
    },
)


@needs_model
def test_free_form_and_mixed_schemas_still_give_complete_valid_calls() -> None:
    for text, temperature in (("Log that I logged in.", 0.2), ("Write a long poem.", 1.2)):
        request = _request(text, tools=(LOG,), temperature=temperature)
        _assert_valid_call(generate(request), (LOG,))


@needs_model
def test_every_grammar_is_finite() -> None:
    from agentbatch.providers.local import grammar

    for tools in ((APPEND, SEND), (LOG,), (APPEND, SEND, LOG)):
        text = grammar.gbnf(grammar.call_schema(tools))
        text = re.sub(r"\[(?:\\.|[^\]\\])*\]", "", text)  # character classes
        text = re.sub(r'"(?:\\.|[^"\\])*"', "", text)  # literals
        assert "*" not in text and "+" not in text  # no unbounded repetition anywhere


@needs_model
def test_a_history_with_tool_calls_and_results_is_answered() -> None:
    earlier = ToolCall(
        "c1", "send_message", json.dumps({"message": "Hello Bob!", "request_heartbeat": False})
    )
    messages = (
        Message.user("Hi, I'm Bob."),
        Message(role="assistant", tool_calls=(earlier,), kind="assistant"),
        Message(role="tool", content="Sent.", tool_call_id="c1", name="send_message", kind="tool"),
        Message.user("I teach maths in Oslo. Please remember that."),
    )
    request = ModelRequest(model="smollm2", system=SYSTEM, messages=messages, tools=(APPEND, SEND))
    _assert_valid_call(generate(request), (APPEND, SEND))


@needs_model
def test_the_model_loads_without_amx_buffers_and_reads_long_prompts() -> None:
    import llama_cpp

    from agentbatch.providers.local.engine import load_model

    # GCC-built AMX kernels of llama-cpp-python >= 0.3.17 crash on any batch of 2+ tokens
    if amx_is_unsafe(llama_cpp.__version__):
        assert load_model().model_params.use_extra_bufts is False
    response = generate(_request("Please remember: " + "I like long walks. " * 200))
    assert response.usage.input_tokens > 800
    _assert_valid_call(response, (APPEND, SEND))


def test_amx_is_left_out_from_the_first_version_that_crashes() -> None:
    assert not amx_is_unsafe("0.3.16")
    assert not amx_is_unsafe("0.2.90")
    assert amx_is_unsafe("0.3.17") and amx_is_unsafe("0.3.36") and amx_is_unsafe("0.4.0")
    assert amx_is_unsafe("1.0.0rc1") and amx_is_unsafe("unknown")


@needs_model
def test_only_the_allowed_tool_is_called() -> None:
    call = _assert_valid_call(generate(_request(PROMPTS[2], tools=(SEND,))), (SEND,))
    assert call["name"] == "send_message"
    call = _assert_valid_call(generate(_request(PROMPTS[1], tools=(APPEND,))), (APPEND,))
    assert call["name"] == "core_memory_append"
    assert call["label"] in ("human", "persona")


@needs_model
def test_without_tools_the_answer_is_plain_text() -> None:
    for request in (_request("Say hello.", tools=()), _request("Say hello.", tool_choice="none")):
        response = generate(request)
        assert response.tool_calls == ()
        assert response.content
        assert response.stop_reason in ("end_turn", "max_tokens")


@needs_model
async def test_a_batch_of_three_succeeds() -> None:
    provider = LocalProvider()
    try:
        requests = {f"item-{i}": _request(text) for i, text in enumerate(PROMPTS[:3])}
        entries = [provider.encode(cid, r) for cid, r in requests.items()]
        sent = json.loads(json.dumps(entries))  # entries are plain JSON
        assert [request_from_dict(e["request"]) for e in sent] == list(requests.values())
        started = time.monotonic()
        handle = await provider.submit("smollm2", sent)
        assert time.monotonic() - started < 1.0  # submit does not wait for the model
        counts = await _wait_ended(provider, handle)
        assert counts["succeeded"] == 3 and counts["processing"] == 0
        results = await _results(provider, handle)
        assert set(results) == set(requests)
        for result in results.values():
            assert result.outcome is Outcome.SUCCEEDED and result.response is not None
            _assert_valid_call(result.response, (APPEND, SEND))
    finally:
        await provider.aclose()


@needs_model
async def test_a_request_too_long_for_the_context_errors_alone() -> None:
    provider = LocalProvider()
    try:
        entries = [
            provider.encode("huge", _request("word " * 20_000)),
            provider.encode("fine", _request(PROMPTS[1])),
        ]
        handle = await provider.submit("smollm2", entries)
        await _wait_ended(provider, handle)
        results = await _results(provider, handle)
        assert results["huge"].outcome is Outcome.ERRORED
        assert "context window" in (results["huge"].error or "")
        assert results["fine"].outcome is Outcome.SUCCEEDED
    finally:
        await provider.aclose()


@needs_model
async def test_cancel_stops_the_remaining_items() -> None:
    provider = LocalProvider()
    try:
        entries = [provider.encode(f"c{i}", _request(PROMPTS[i % 4])) for i in range(6)]
        handle = await provider.submit("smollm2", entries)
        await provider.cancel(handle)
        counts = await _wait_ended(provider, handle, within=10.0)
        assert counts["canceled"] >= 5  # at most the item already running completes
        assert sum(counts.values()) == 6
        assert all(
            r.outcome in (Outcome.CANCELED, Outcome.SUCCEEDED)
            for r in (await _results(provider, handle)).values()
        )
    finally:
        await provider.aclose()


# -- batch semantics with a stand-in model (no extra needed) ----------------------------


class _Gate:
    """A stand-in model that answers once released, and fails on request."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.seen: list[str] = []

    def __call__(
        self, request: ModelRequest, *, should_stop: Callable[[], bool] | None = None
    ) -> ModelResponse:
        while not self.release.wait(0.01):
            if should_stop is not None and should_stop():
                from agentbatch.providers.local import GenerationCanceled

                raise GenerationCanceled("stopped")
        text = request.messages[-1].content or ""
        self.seen.append(text)
        if text == "fail":
            raise RuntimeError("model exploded")
        return ModelResponse(content=text.upper(), model="stand-in")


async def test_batches_report_progress_then_stream_every_outcome() -> None:
    gate = _Gate()
    provider, other = LocalProvider(generate=gate), LocalProvider(generate=gate)
    try:
        assert isinstance(provider, BatchProvider) and provider.name == "local"
        entries = [provider.encode(f"x{i}", _request(t)) for i, t in enumerate(["a", "fail", "b"])]
        handle = await provider.submit("smollm2", entries)
        polled = await other.poll(handle)  # any instance in the process sees the batch
        assert not polled.ended and polled.counts["processing"] == 3
        gate.release.set()
        counts = await _wait_ended(provider, handle)
        assert counts == {
            "processing": 0,
            "succeeded": 2,
            "errored": 1,
            "canceled": 0,
            "expired": 0,
        }
        results = await _results(provider, handle)
        assert results["x1"].outcome is Outcome.ERRORED
        assert "model exploded" in (results["x1"].error or "")
        assert results["x2"].response is not None and results["x2"].response.content == "B"
        assert gate.seen == ["a", "fail", "b"]  # one item after another, in order
        await provider.cleanup(handle)
        with pytest.raises(UnknownBatch):
            await other.poll(handle)
    finally:
        await provider.aclose()
        await other.aclose()


async def test_cancel_interrupts_the_running_item_and_skips_the_rest() -> None:
    gate = _Gate()
    provider = LocalProvider(generate=gate)
    try:
        handle = await provider.submit(
            "smollm2", [provider.encode(f"y{i}", _request("q")) for i in range(3)]
        )
        await asyncio.sleep(0.05)
        await provider.cancel(handle)
        counts = await _wait_ended(provider, handle, within=5.0)
        assert counts["canceled"] == 3
        assert gate.seen == []
    finally:
        await provider.aclose()


async def test_unknown_handles_raise_unknown_batch() -> None:
    provider = LocalProvider(generate=_Gate())
    try:
        with pytest.raises(UnknownBatch):
            await provider.poll("localbatch_from_another_process")
        with pytest.raises(UnknownBatch):
            await _results(provider, "localbatch_from_another_process")
        with pytest.raises(UnknownBatch):
            await provider.cancel("localbatch_from_another_process")
        await provider.cleanup("localbatch_from_another_process")  # forgetting is idempotent
    finally:
        await provider.aclose()


def test_long_histories_drop_the_oldest_turns_first() -> None:
    from agentbatch.providers.local.prompt import Turn, call_tail, fit_prompt

    system = Turn("system", "remember everything")
    turns = [Turn("user", f"message {i} " + "x" * 400) for i in range(50)]
    fitted = fit_prompt(system, turns, lambda t: len(t) // 4, 2000, call_tail())
    assert fitted is not None
    prompt, dropped = fitted
    assert 0 < dropped < 50
    assert "remember everything" in prompt and "message 49 " in prompt
    assert "message 0 " not in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    assert fit_prompt(system, turns, lambda t: len(t) // 4, 50) is None


def test_requests_round_trip_through_plain_dicts() -> None:
    call = ToolCall("c9", "send_message", '{"message": "hi"}')
    request = ModelRequest(
        model="smollm2",
        system="sys",
        messages=(
            Message.user("hi"),
            Message(role="assistant", tool_calls=(call,), kind="assistant"),
        ),
        tools=(APPEND, SEND),
        tool_choice="required",
        max_tokens=77,
        temperature=0.5,
        options={"seed": 3},
        step=2,
        attempt=3,
        agent_id="agent-1",
    )
    assert request_from_dict(json.loads(json.dumps(request_to_dict(request)))) == request
