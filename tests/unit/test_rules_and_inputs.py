"""Parsing tool rules and job input messages; message and response round-trips."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentbatch.domain.messages import Message, ToolCall, parse_input_messages
from agentbatch.domain.model_io import ModelResponse, Usage
from agentbatch.domain.rules import RULE_KINDS, ToolRule, parse_rule, parse_rules

TOOLS = ("a", "b", "c", "d")


# -- parse_rule: each kind --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["init", "terminal", "continue", "required_before_exit"])
def test_simple_kinds(kind: str) -> None:
    rule = parse_rule({"type": kind, "tool": "a"})
    assert rule == ToolRule(kind=kind, tool="a")
    assert rule.to_dict() == {"type": kind, "tool": "a"}


@pytest.mark.parametrize("kind", ["child", "parent"])
def test_child_and_parent(kind: str) -> None:
    rule = parse_rule({"type": kind, "tool": "a", "children": ["b", "c"]})
    assert rule.kind == kind and rule.tool == "a"
    assert rule.children == ("b", "c")
    assert rule.to_dict() == {"type": kind, "tool": "a", "children": ["b", "c"]}
    assert rule.named_tools() == {"a", "b", "c"}


def test_conditional() -> None:
    rule = parse_rule(
        {
            "type": "conditional",
            "tool": "a",
            "mapping": {"yes": "b", "no": "c"},
            "default_child": "d",
            "require_output_mapping": True,
        }
    )
    assert dict(rule.mapping) == {"yes": "b", "no": "c"}
    assert rule.default_child == "d"
    assert rule.require_output_mapping is True
    assert rule.named_tools() == {"a", "b", "c", "d"}
    assert parse_rule(rule.to_dict()) == rule


def test_conditional_letta_spelling_and_non_string_keys() -> None:
    raw = {"type": "conditional", "tool": "a", "child_output_mapping": {1: "b", "yes": "c"}}
    rule = parse_rule(raw)
    assert dict(rule.mapping) == {"1": "b", "yes": "c"}
    assert rule.require_output_mapping is False
    assert rule.default_child is None


def test_conditional_empty_mapping_with_default_is_fine() -> None:
    rule = parse_rule({"type": "conditional", "tool": "a", "mapping": {}, "default_child": "b"})
    assert rule.default_child == "b"


def test_max_count() -> None:
    rule = parse_rule({"type": "max_count_per_step", "tool": "a", "max_count": 3})
    assert rule.max_count == 3
    assert parse_rule(rule.to_dict()) == rule


@pytest.mark.parametrize("kind", RULE_KINDS)
def test_every_kind_round_trips_through_to_dict(kind: str) -> None:
    raw: dict[str, Any] = {"type": kind, "tool": "a"}
    if kind in ("child", "parent"):
        raw["children"] = ["b"]
    if kind == "conditional":
        raw["mapping"] = {"x": "b"}
    if kind == "max_count_per_step":
        raw["max_count"] = 2
    rule = parse_rule(raw)
    assert parse_rule(json.loads(json.dumps(rule.to_dict()))) == rule


# -- parse_rule: errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("init", "object"),
        (["init", "a"], "object"),
        ({"type": "exit", "tool": "a"}, "unknown tool rule type"),
        ({"tool": "a"}, "unknown tool rule type"),
        ({"type": "init"}, "needs a 'tool'"),
        ({"type": "init", "tool": ""}, "needs a 'tool'"),
        ({"type": "init", "tool": 5}, "needs a 'tool'"),
        ({"type": "child", "tool": "a"}, "children"),
        ({"type": "child", "tool": "a", "children": []}, "children"),
        ({"type": "child", "tool": "a", "children": "b"}, "children"),
        ({"type": "parent", "tool": "a", "children": ["b", 3]}, "children"),
        ({"type": "conditional", "tool": "a"}, "mapping"),
        ({"type": "conditional", "tool": "a", "mapping": {}}, "mapping or a default_child"),
        ({"type": "conditional", "tool": "a", "mapping": {"x": 1}}, "mapping"),
        ({"type": "conditional", "tool": "a", "mapping": ["b"]}, "mapping"),
        (
            {"type": "conditional", "tool": "a", "mapping": {"x": "b"}, "default_child": 2},
            "default_child",
        ),
        ({"type": "max_count_per_step", "tool": "a"}, "max_count"),
        ({"type": "max_count_per_step", "tool": "a", "max_count": 0}, "max_count >= 1"),
        ({"type": "max_count_per_step", "tool": "a", "max_count": -2}, "max_count >= 1"),
        ({"type": "max_count_per_step", "tool": "a", "max_count": "2"}, "max_count"),
        ({"type": "max_count_per_step", "tool": "a", "max_count": True}, "max_count"),
        ({"type": "max_count_per_step", "tool": "a", "max_count": 1.5}, "max_count"),
    ],
)
def test_parse_rule_errors(raw: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_rule(raw)


# -- parse_rules ----------------------------------------------------------------------------------


def test_parse_rules_none_and_empty() -> None:
    assert parse_rules(None, TOOLS) == ()
    assert parse_rules([], TOOLS) == ()


def test_parse_rules_keeps_order() -> None:
    rules = parse_rules([{"type": "init", "tool": "a"}, {"type": "terminal", "tool": "d"}], TOOLS)
    assert [(r.kind, r.tool) for r in rules] == [("init", "a"), ("terminal", "d")]


def test_parse_rules_must_be_a_list() -> None:
    with pytest.raises(ValueError, match="list"):
        parse_rules({"type": "init", "tool": "a"}, TOOLS)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "missing"),
    [
        ({"type": "init", "tool": "zz"}, "zz"),
        ({"type": "child", "tool": "a", "children": ["b", "yy"]}, "yy"),
        ({"type": "parent", "tool": "xx", "children": ["b"]}, "xx"),
        ({"type": "conditional", "tool": "a", "mapping": {"k": "ww"}}, "ww"),
        ({"type": "conditional", "tool": "a", "mapping": {"k": "b"}, "default_child": "vv"}, "vv"),
    ],
)
def test_parse_rules_rejects_tools_the_agent_lacks(raw: dict, missing: str) -> None:
    with pytest.raises(ValueError, match=missing):
        parse_rules([raw], TOOLS)


def test_parse_rules_reports_bad_rule_in_list() -> None:
    with pytest.raises(ValueError, match="unknown tool rule type"):
        parse_rules([{"type": "init", "tool": "a"}, {"type": "bogus", "tool": "a"}], TOOLS)


# -- parse_input_messages -----------------------------------------------------------------------


def test_input_string() -> None:
    msgs = parse_input_messages("hello")
    assert msgs == [Message(role="user", content="hello", kind="input")]


def test_input_list_of_dicts_and_bare_strings() -> None:
    msgs = parse_input_messages([{"role": "user", "content": "one"}, "two", {"content": "three"}])
    assert [m.content for m in msgs] == ["one", "two", "three"]
    assert all(m.role == "user" and m.kind == "input" for m in msgs)


@pytest.mark.parametrize("raw", ["", "   ", [], None, 5, {"role": "user", "content": "x"}])
def test_input_empty_or_wrong_shape(raw: Any) -> None:
    with pytest.raises(ValueError, match="messages"):
        parse_input_messages(raw)


@pytest.mark.parametrize("role", ["assistant", "system", "tool", None])
def test_input_wrong_role(role: Any) -> None:
    with pytest.raises(ValueError, match=r"messages\[1\]\.role"):
        parse_input_messages(["ok", {"role": role, "content": "x"}])


@pytest.mark.parametrize("content", [None, 3, ["x"], {"text": "x"}, "", "  "])
def test_input_non_string_or_empty_content(content: Any) -> None:
    with pytest.raises(ValueError, match=r"messages\[0\]\.content"):
        parse_input_messages([{"role": "user", "content": content}])


def test_input_non_object_item() -> None:
    with pytest.raises(ValueError, match=r"messages\[0\]"):
        parse_input_messages([42])


# -- Message / ToolCall / ModelResponse round-trips --------------------------------------------


CALLS = (
    ToolCall("toolu_01XyZ", "lookup", '{"q": "x", "request_heartbeat": true}'),
    ToolCall("call_abc", "ping", "{}"),
)

MESSAGES = [
    Message.user("hi"),
    Message.user("beat", kind="heartbeat"),
    Message(
        role="assistant",
        content="thinking",
        reasoning="r",
        reasoning_signature="sig",
        tool_calls=CALLS,
        kind="assistant",
    ),
    Message(role="assistant", tool_calls=CALLS[:1], kind="assistant"),
    Message(
        role="tool",
        content='{"status": "Failed"}',
        tool_call_id="toolu_01XyZ",
        name="lookup",
        is_error=True,
        kind="tool",
    ),
    Message(role="tool", content="", tool_call_id="call_abc", name="ping", kind="tool"),
]


@pytest.mark.parametrize("message", MESSAGES)
def test_message_round_trip(message: Message) -> None:
    data = json.loads(json.dumps(message.to_dict()))
    assert Message.from_dict(data) == message


def test_message_to_dict_omits_empty_fields() -> None:
    assert Message.user("x").to_dict() == {"role": "user", "kind": "input", "content": "x"}


def test_tool_call_round_trip_keeps_provider_id_and_raw_arguments() -> None:
    raw = '{"q":  "spaced" }'
    call = ToolCall("toolu_keep_me", "lookup", raw)
    back = ToolCall.from_dict(call.to_dict())
    assert back == call
    assert back.arguments == raw


def test_tool_call_from_dict_with_object_arguments() -> None:
    call = ToolCall.from_dict({"id": "x", "name": "n", "arguments": {"a": 1}})
    assert json.loads(call.arguments) == {"a": 1}


def test_model_response_round_trip() -> None:
    response = ModelResponse(
        content="text",
        tool_calls=CALLS,
        reasoning="why",
        reasoning_signature="sig==",
        stop_reason="tool_use",
        usage=Usage(10, 20, 30, 40),
        model="claude-x",
    )
    data = json.loads(json.dumps(response.to_dict()))
    assert ModelResponse.from_dict(data) == response


def test_model_response_round_trip_minimal() -> None:
    response = ModelResponse()
    assert ModelResponse.from_dict(response.to_dict()) == response
    assert ModelResponse.from_dict({}) == response


def test_usage_addition() -> None:
    assert Usage(1, 2, 3, 4) + Usage(10, 20, 30, 40) == Usage(11, 22, 33, 44)
    assert Usage.from_dict(Usage(1, 2, 3, 4).to_dict()) == Usage(1, 2, 3, 4)
    assert Usage.from_dict(None) == Usage()
