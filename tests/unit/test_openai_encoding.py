"""Chat-completions encoding/decoding: pure, no network."""

from __future__ import annotations

import json
import random
from email.utils import formatdate
from time import time

import pytest

from agentbatch.domain.messages import Message, ToolCall
from agentbatch.domain.model_io import ModelRequest, Outcome, ToolSpec
from agentbatch.providers.openai_batch import parse_result_line
from agentbatch.providers.openai_wire import (
    MISSING_RESULT,
    decode_completion,
    decode_usage,
    encode_body,
    encode_messages,
    retry_after_seconds,
)
from agentbatch.testing.openai.checks import BadRequest, check_chat_body

SEARCH = ToolSpec(
    "search",
    "Search the archive",
    {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
)


def call(i: str, name: str = "search", args: str = '{"q": "x"}') -> ToolCall:
    return ToolCall(id=i, name=name, arguments=args)


def tool(i: str, content: str = "ok", is_error: bool = False) -> Message:
    return Message(role="tool", tool_call_id=i, content=content, is_error=is_error, kind="tool")


def assistant(
    *calls: ToolCall, content: str | None = None, reasoning: str | None = None
) -> Message:
    return Message(
        role="assistant", content=content, tool_calls=calls, reasoning=reasoning, kind="assistant"
    )


def test_body_has_system_tools_choice_and_limits() -> None:
    request = ModelRequest(
        model="gpt-4.1-mini",
        system="You are a memory agent.",
        messages=(Message.user("hello"),),
        tools=(SEARCH,),
        tool_choice="required",
        max_tokens=256,
        temperature=0.3,
        agent_id="agent-7",
    )
    body = encode_body(request, cache_key=True)
    assert body["model"] == "gpt-4.1-mini"
    assert body["messages"] == [
        {"role": "system", "content": "You are a memory agent."},
        {"role": "user", "content": "hello"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "search",
                "description": "Search the archive",
                "parameters": dict(SEARCH.parameters),
            },
        }
    ]
    assert body["tool_choice"] == "required"
    assert body["max_completion_tokens"] == 256
    assert body["temperature"] == 0.3
    assert body["prompt_cache_key"] == "agent-7"
    check_chat_body(body)


def test_body_without_tools_or_temperature_omits_them() -> None:
    request = ModelRequest(model="m", system="", messages=(Message.user("hi"),), max_tokens=9)
    body = encode_body(request, max_tokens_field="max_tokens")
    assert "tools" not in body and "tool_choice" not in body and "temperature" not in body
    assert body["max_tokens"] == 9 and "max_completion_tokens" not in body
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert "prompt_cache_key" not in body


def test_provider_options_are_merged() -> None:
    request = ModelRequest(
        model="m", system="s", messages=(Message.user("hi"),), options={"openai": {"seed": 3}}
    )
    assert encode_body(request)["seed"] == 3


def test_parallel_calls_keep_ids_and_raw_arguments_and_drop_reasoning() -> None:
    raw = '{"q": "a",  "request_heartbeat": true}'
    history = (
        Message.user("find a and b"),
        assistant(call("call_A", args=raw), call("call_B"), reasoning="thinking..."),
        tool("call_A", "found a"),
        tool("call_B", "boom", is_error=True),
        Message.user("heartbeat: tools ran", kind="heartbeat"),
    )
    messages = encode_messages("sys", history)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "tool", "user"]
    calls = messages[2]["tool_calls"]
    assert [c["id"] for c in calls] == ["call_A", "call_B"]
    assert calls[0]["function"]["arguments"] == raw
    assert "reasoning" not in messages[2] and messages[2]["content"] is None
    assert messages[3] == {"role": "tool", "tool_call_id": "call_A", "content": "found a"}
    assert messages[4]["content"] == "Error: boom"
    check_chat_body({"model": "m", "messages": messages})


def test_groups_are_repaired_reordered_filled_and_orphans_become_user_text() -> None:
    history = (
        Message.user("go"),
        assistant(call("c1"), call("c2")),
        tool("c2", "second"),
        Message.user("heartbeat", kind="heartbeat"),
        tool("c1", "first"),
        tool("zzz", "stray"),
        assistant(call("c3")),
        Message.user("new input"),
    )
    messages = encode_messages("", history)
    roles = [(m["role"], m.get("tool_call_id")) for m in messages]
    assert roles == [
        ("user", None),
        ("assistant", None),
        ("tool", "c1"),
        ("tool", "c2"),
        ("user", None),
        ("user", None),
        ("assistant", None),
        ("tool", "c3"),
        ("user", None),
    ]
    assert messages[2]["content"] == "first"
    assert "stray" in messages[5]["content"]
    assert messages[7]["content"] == MISSING_RESULT
    check_chat_body({"model": "m", "messages": messages})


def test_random_histories_always_encode_to_valid_requests() -> None:
    rng = random.Random(7)
    for _ in range(300):
        history: list[Message] = []
        ids: list[str] = []
        for n in range(rng.randint(1, 12)):
            kind = rng.choice(["user", "assistant", "tool", "text"])
            if kind == "user":
                history.append(Message.user(f"u{n}"))
            elif kind == "assistant":
                new = [f"call_{n}_{k}" for k in range(rng.randint(1, 3))]
                ids += new
                history.append(assistant(*(call(i) for i in new)))
            elif kind == "text":
                history.append(assistant(content=rng.choice([None, "", "text"])))
            else:
                history.append(tool(rng.choice([*ids, "ghost"])))
        check_chat_body({"model": "m", "messages": encode_messages("s", history)})


def test_checker_rejects_what_the_api_rejects() -> None:
    bad_histories = [
        [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "a", "content": "r"}],
        [
            {"role": "assistant", "content": None, "tool_calls": [_wire_call("a")]},
            {"role": "user", "content": "too early"},
        ],
        [{"role": "robot", "content": "x"}],
    ]
    for messages in bad_histories:
        with pytest.raises(BadRequest):
            check_chat_body({"model": "m", "messages": messages})
    tools = [{"type": "function", "function": {"name": "t", "parameters": {"type": "string"}}}]
    with pytest.raises(BadRequest, match="Invalid schema"):
        check_chat_body(
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": tools}
        )


def _wire_call(i: str) -> dict[str, object]:
    return {"id": i, "type": "function", "function": {"name": "search", "arguments": "{}"}}


def test_decode_tool_calls_usage_and_stop_reason() -> None:
    body = {
        "model": "gpt-4.1-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_xyz",
                            "type": "function",
                            "function": {"name": "search", "arguments": '{"q": 1'},
                        }
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 2000,
            "completion_tokens": 30,
            "total_tokens": 2030,
            "prompt_tokens_details": {"cached_tokens": 1536},
        },
    }
    response = decode_completion(body)
    assert response.tool_calls == (ToolCall("call_xyz", "search", '{"q": 1'),)
    assert response.stop_reason == "tool_use" and response.content is None
    assert response.usage.input_tokens == 464
    assert response.usage.cache_read_tokens == 1536
    assert response.usage.output_tokens == 30
    assert response.model == "gpt-4.1-mini"


@pytest.mark.parametrize(
    ("finish", "expected"), [("stop", "end_turn"), ("length", "max_tokens"), ("other", "other")]
)
def test_finish_reasons(finish: str, expected: str) -> None:
    body = {"choices": [{"finish_reason": finish, "message": {"content": "hi"}}]}
    assert decode_completion(body).stop_reason == expected


def test_decode_refusal_reasoning_and_content_parts() -> None:
    refusal = {
        "choices": [{"finish_reason": "stop", "message": {"content": None, "refusal": "no"}}]
    }
    assert decode_completion(refusal).content == "no"
    assert decode_completion(refusal).stop_reason == "refusal"
    parts = {
        "choices": [
            {
                "finish_reason": "stop",
                "message": {
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                    "reasoning_content": "because",
                },
            }
        ]
    }
    assert decode_completion(parts).content == "ab"
    assert decode_completion(parts).reasoning == "because"
    with pytest.raises(ValueError):
        decode_completion({"choices": []})
    assert decode_usage(None).input_tokens == 0


def test_retry_after_headers() -> None:
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    when = retry_after_seconds({"retry-after": formatdate(time() + 30, usegmt=True)})
    assert when is not None and 25 <= when <= 31
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_result_lines_map_to_outcomes() -> None:
    ok = {
        "custom_id": "a",
        "response": {
            "status_code": 200,
            "body": {"choices": [{"finish_reason": "stop", "message": {"content": "hi"}}]},
        },
        "error": None,
    }
    bad = {
        "custom_id": "b",
        "response": {"status_code": 400, "body": {"error": {"message": "nope"}}},
        "error": None,
    }
    expired = {
        "custom_id": "c",
        "response": None,
        "error": {"code": "batch_expired", "message": "late"},
    }
    cancelled = {
        "custom_id": "d",
        "response": None,
        "error": {"code": "batch_cancelled", "message": ""},
    }
    results = [parse_result_line(json.loads(json.dumps(r))) for r in (ok, bad, expired, cancelled)]
    assert [r.outcome if r else None for r in results] == [
        Outcome.SUCCEEDED,
        Outcome.ERRORED,
        Outcome.EXPIRED,
        Outcome.CANCELED,
    ]
    assert results[0] is not None and results[0].response is not None
    assert results[0].response.content == "hi"
    assert results[1] is not None and results[1].error == "HTTP 400: nope"
    assert parse_result_line({"response": None}) is None
