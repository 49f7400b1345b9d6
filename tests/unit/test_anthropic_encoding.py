"""Encoding neutral requests as Anthropic Messages params, and decoding batch result lines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentbatch.domain.messages import Message, ToolCall
from agentbatch.domain.model_io import ModelRequest, Outcome, ToolSpec
from agentbatch.providers.anthropic import AnthropicBatchProvider, decode_line, encode_params
from agentbatch.testing.anthropic.validation import check_params

CACHE_1H = {"type": "ephemeral", "ttl": "1h"}
TOOLS = (
    ToolSpec("note", "Take a note", {"type": "object", "properties": {"text": {"type": "string"}}}),
    ToolSpec("search", "Search", {"type": "object", "properties": {"q": {"type": "string"}}}),
)


def call(cid: str, name: str = "note", args: str = '{"text": "x"}') -> ToolCall:
    return ToolCall(id=cid, name=name, arguments=args)


def assistant(content: str | None = None, *calls: ToolCall, **kw: Any) -> Message:
    return Message(role="assistant", content=content, tool_calls=calls, kind="assistant", **kw)


def tool(cid: str, content: str = "ok", is_error: bool = False) -> Message:
    return Message(
        role="tool", content=content, tool_call_id=cid, name="note", is_error=is_error, kind="tool"
    )


def request(*messages: Message, **kw: Any) -> ModelRequest:
    kw.setdefault("tools", TOOLS)
    # the turn structure alone; conversation breakpoints: tests/unit/test_conversation_cache.py
    kw.setdefault("options", {"cache_conversation": "off"})
    return ModelRequest(model="claude-x", system="You are helpful.", messages=messages, **kw)


def encode(*messages: Message, **kw: Any) -> dict[str, Any]:
    params = encode_params(request(*messages, **kw))
    check_params(params, verify_signatures=False)  # what the API would refuse, never sent
    return params


def test_system_and_last_tool_carry_one_hour_cache_breakpoints() -> None:
    params = encode(Message.user("hi"), max_tokens=300, temperature=0.2)
    assert params["system"] == [
        {"type": "text", "text": "You are helpful.", "cache_control": CACHE_1H}
    ]
    assert [t.get("cache_control") for t in params["tools"]] == [None, CACHE_1H]
    assert params["tools"][0] == {
        "name": "note",
        "description": "Take a note",
        "input_schema": dict(TOOLS[0].parameters),
    }
    assert (params["model"], params["max_tokens"], params["temperature"]) == ("claude-x", 300, 0.2)
    assert params["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


@pytest.mark.parametrize(
    ("choice", "wire"),
    [("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"})],
)
def test_tool_choice(choice: str, wire: dict[str, str]) -> None:
    params = encode(Message.user("hi"), tool_choice=choice)
    assert params["tool_choice"] == wire and len(params["tools"]) == 2  # tools stay: same cache


def test_no_tools_means_no_tool_keys() -> None:
    params = encode(Message.user("hi"), tools=())
    assert "tools" not in params and "tool_choice" not in params


def test_parallel_calls_results_and_heartbeat_make_three_alternating_turns() -> None:
    history = (
        Message.user("remember two things"),
        assistant(
            "On it.",
            call("toolu_A"),
            call("toolu_B", "search", '{"q": "y"}'),
            reasoning="plan",
            reasoning_signature="sig",
        ),
        tool("toolu_A", "saved"),
        tool("toolu_B", "no such thing", is_error=True),
        Message.user("[heartbeat] continue", kind="heartbeat"),
    )
    turns = encode(*history)["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == [
        {"type": "thinking", "thinking": "plan", "signature": "sig"},
        {"type": "text", "text": "On it."},
        {"type": "tool_use", "id": "toolu_A", "name": "note", "input": {"text": "x"}},
        {"type": "tool_use", "id": "toolu_B", "name": "search", "input": {"q": "y"}},
    ]
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_A", "is_error": False, "content": "saved"},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_B",
            "is_error": True,
            "content": "no such thing",
        },
        {"type": "text", "text": "[heartbeat] continue"},
    ]


def test_unsigned_reasoning_is_not_replayed() -> None:
    turns = encode(
        Message.user("q"), assistant("answer", reasoning="private"), Message.user("next")
    )["messages"]
    assert turns[1]["content"] == [{"type": "text", "text": "answer"}]


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"'])
def test_arguments_that_are_not_a_json_object_are_wrapped(raw: str) -> None:
    turns = encode(Message.user("q"), assistant(None, call("toolu_1", args=raw)), tool("toolu_1"))[
        "messages"
    ]
    assert turns[1]["content"][0]["input"] == {"INVALID_JSON": raw}


def test_window_starting_mid_conversation_opens_with_a_user_turn() -> None:
    turns = encode(
        tool("toolu_gone", "old result"), assistant("earlier answer"), Message.user("now")
    )["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[0]["content"] == [{"type": "text", "text": "[tool result note] old result"}]
    turns = encode(assistant("hello there"), Message.user("hi"))["messages"]
    assert turns[0] == {
        "role": "user",
        "content": [{"type": "text", "text": "(earlier messages omitted)"}],
    }


def test_calls_without_results_get_error_results() -> None:
    ended = encode(
        Message.user("q"), assistant(None, call("toolu_1"), call("toolu_2")), tool("toolu_2")
    )["messages"]
    assert [b["tool_use_id"] for b in ended[2]["content"]] == ["toolu_1", "toolu_2"]
    assert ended[2]["content"][0]["is_error"] is True
    trailing = encode(Message.user("q"), assistant("calling", call("toolu_1")))["messages"]
    assert trailing[-1]["role"] == "user" and trailing[-1]["content"][0]["tool_use_id"] == "toolu_1"


def test_blank_messages_are_dropped_and_same_role_turns_merged() -> None:
    turns = encode(
        Message.user("first"),
        Message.user("   "),
        Message.user("second"),
        assistant(""),
        assistant("only text"),
        Message.user("third"),
    )["messages"]
    assert turns == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "only text"}]},
        {"role": "user", "content": [{"type": "text", "text": "third"}]},
    ]


def test_repeated_and_odd_ids_are_rewritten_consistently() -> None:
    turns = encode(
        Message.user("q"),
        assistant(None, call("call.1")),
        tool("call.1"),
        assistant(None, call("call.1")),
        tool("call.1"),
    )["messages"]
    ids = [b["id"] for t in turns if t["role"] == "assistant" for b in t["content"]]
    answers = [
        b["tool_use_id"]
        for t in turns
        if t["role"] == "user"
        for b in t["content"]
        if "tool_use_id" in b
    ]
    assert ids == ["call_1", "call_1_2"] and answers == ids


def test_history_with_calls_but_no_tools_declares_them_without_offering_them() -> None:
    params = encode(
        Message.user("q"), assistant(None, call("toolu_1", "search")), tool("toolu_1"), tools=()
    )
    assert params["tools"] == [
        {"name": "search", "input_schema": {"type": "object"}, "cache_control": CACHE_1H}
    ]
    assert params["tool_choice"] == {"type": "none"}


def test_temperature_is_clamped_and_dropped_under_thinking() -> None:
    assert encode(Message.user("q"), temperature=1.7)["temperature"] == 1.0
    thinking = {"type": "enabled", "budget_tokens": 2048}
    params = encode(
        Message.user("q"), temperature=0.3, max_tokens=4096, options={"thinking": thinking}
    )
    assert params["thinking"] == thinking and "temperature" not in params


def test_provider_encode_is_custom_id_and_params() -> None:
    entry = AnthropicBatchProvider(api_key="unused").encode("item-1-a1", request(Message.user("q")))
    assert set(entry) == {"custom_id", "params"} and entry["custom_id"] == "item-1-a1"
    json.dumps(entry)  # JSON-able as is


def test_decode_succeeded_line() -> None:
    line = {
        "custom_id": "a",
        "result": {
            "type": "succeeded",
            "message": {
                "model": "claude-x",
                "stop_reason": "tool_use",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "Part one, "},
                    {"type": "text", "text": "part two."},
                    {"type": "tool_use", "id": "toolu_9", "name": "note", "input": {"text": "é"}},
                    {
                        "type": "tool_use",
                        "id": "toolu_10",
                        "name": "note",
                        "input": {"INVALID_JSON": "{bad"},
                    },
                ],
                "usage": {
                    "input_tokens": 5,
                    "output_tokens": 7,
                    "cache_read_input_tokens": 100,
                    "cache_creation_input_tokens": 20,
                },
            },
        },
    }
    item = decode_line(line)
    assert item.outcome is Outcome.SUCCEEDED and item.response is not None
    response = item.response
    assert response.content == "Part one, part two."
    assert (response.reasoning, response.reasoning_signature) == ("hmm", "sig")
    assert [c.id for c in response.tool_calls] == ["toolu_9", "toolu_10"]
    assert json.loads(response.tool_calls[0].arguments) == {"text": "é"}
    assert response.tool_calls[1].arguments == "{bad"
    assert response.stop_reason == "tool_use" and response.model == "claude-x"
    usage = response.usage
    assert (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
    ) == (5, 7, 100, 20)


def test_decode_several_thinking_blocks_keeps_text_unsigned() -> None:
    content = [
        {"type": "thinking", "thinking": "a", "signature": "s1"},
        {"type": "thinking", "thinking": "b", "signature": "s2"},
    ]
    item = decode_line(
        {"custom_id": "a", "result": {"type": "succeeded", "message": {"content": content}}}
    )
    assert item.response is not None and item.response.content is None
    assert (item.response.reasoning, item.response.reasoning_signature) == ("a\nb", None)


def test_decode_errored_canceled_expired() -> None:
    error = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "messages: bad"},
    }
    errored = decode_line({"custom_id": "e", "result": {"type": "errored", "error": error}})
    assert (
        errored.outcome is Outcome.ERRORED
        and errored.error == "invalid_request_error: messages: bad"
    )
    for kind in ("canceled", "expired"):
        item = decode_line({"custom_id": "c", "result": {"type": kind}})
        assert item.outcome is Outcome(kind) and item.response is None


def test_memory_after_the_cached_system_prefix() -> None:
    from agentbatch.providers.anthropic.encoding import system_blocks

    blocks = system_blocks(
        "You are kind.\n\n<memory_blocks>x</memory_blocks>", len("You are kind.")
    )
    assert blocks[0] == {
        "type": "text",
        "text": "You are kind.",
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    }
    assert blocks[1] == {"type": "text", "text": "\n\n<memory_blocks>x</memory_blocks>"}
    # nothing to split: one block with the breakpoint
    assert len(system_blocks("Only a prompt.", len("Only a prompt."))) == 1
