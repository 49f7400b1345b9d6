"""resolve_step: a model response becomes executed tool calls, messages and a decision."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentbatch.domain.agents import AgentSpec
from agentbatch.domain.messages import ToolCall
from agentbatch.domain.model_io import ModelResponse, ToolSpec
from agentbatch.domain.rules import parse_rules
from agentbatch.step.prepare import ToolCatalog
from agentbatch.step.resolve import ResultPending, StepOutcome, resolve_step
from agentbatch.step.solver import RuleSet, SolverState
from agentbatch.tools.builtins import BUILTIN_SPECS, ToolResult


def _obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


CUSTOM = {
    "lookup": ToolSpec("lookup", "Look up", _obj({"q": {"type": "string"}}, ["q"])),
    "classify": ToolSpec("classify", "Classify", _obj({}, [])),
    "approve": ToolSpec("approve", "Approve", _obj({}, [])),
    "reject": ToolSpec("reject", "Reject", _obj({}, [])),
    "finish": ToolSpec("finish", "Finish", _obj({}, [])),
    "ping": ToolSpec("ping", "Ping", _obj({}, [])),
}
CATALOG = ToolCatalog({**BUILTIN_SPECS, **CUSTOM})
TOOL_NAMES = ("send_message", "core_memory_append", *CUSTOM)


class FakeRunner:
    """Records every call it runs; answers from a table (default: ok, "done <name>")."""

    def __init__(self, results: dict[str, ToolResult | None] | None = None) -> None:
        self.results = results or {}
        self.calls: list[tuple[str, ToolCall, dict[str, Any]]] = []

    def run(self, agent: AgentSpec, call: ToolCall, args: dict[str, Any]) -> ToolResult | None:
        self.calls.append((agent.id, call, dict(args)))
        if call.name in self.results:
            return self.results[call.name]
        return ToolResult(True, f"done {call.name}")


def agent(rules: list[dict] | None = None, tools: tuple[str, ...] = TOOL_NAMES) -> AgentSpec:
    return AgentSpec(
        id="agent-1",
        name="a",
        system="sys",
        model="scripted/test",
        tool_names=tools,
        rules=parse_rules(rules, tools),
    )


def call(
    name: str,
    args: Any = None,
    *,
    id: str | None = None,
    heartbeat: bool | None = None,
    raw: str | None = None,
) -> ToolCall:
    if raw is None:
        payload = dict(args or {})
        if heartbeat is not None:
            payload["request_heartbeat"] = heartbeat
        raw = json.dumps(payload)
    return ToolCall(id=id or f"toolu_{name}", name=name, arguments=raw)


def resolve(
    response: ModelResponse,
    *,
    spec: AgentSpec | None = None,
    runner: FakeRunner | None = None,
    state: SolverState | None = None,
    steps_done: int = 1,
    max_steps: int = 10,
) -> StepOutcome:
    spec = spec or agent()
    return resolve_step(
        spec,
        RuleSet(spec.rules),
        state or SolverState(),
        response,
        catalog=CATALOG,
        runner=runner or FakeRunner(),
        steps_done=steps_done,
        max_steps=max_steps,
    )


def body(message: Any) -> dict[str, Any]:
    return json.loads(message.content)


# -- parallel calls ---------------------------------------------------------------------


def test_parallel_calls_run_in_order_with_provider_ids() -> None:
    runner = FakeRunner()
    calls = (
        call("lookup", {"q": "one"}, id="toolu_01A"),
        call("ping", id="call_zz9"),
        call("lookup", {"q": "two"}, id="toolu_01B", heartbeat=True),
    )
    out = resolve(ModelResponse(tool_calls=calls), runner=runner)
    assert [(c.id, a) for _, c, a in runner.calls] == [
        ("toolu_01A", {"q": "one"}),
        ("call_zz9", {}),
        ("toolu_01B", {"q": "two"}),
    ]
    assert [m.tool_call_id for m in out.tool_messages] == ["toolu_01A", "call_zz9", "toolu_01B"]
    assert [m.name for m in out.tool_messages] == ["lookup", "ping", "lookup"]
    assert all(m.role == "tool" and not m.is_error for m in out.tool_messages)
    assert [body(m) for m in out.tool_messages] == [
        {"status": "OK", "message": "done lookup"},
        {"status": "OK", "message": "done ping"},
        {"status": "OK", "message": "done lookup"},
    ]
    assert out.tools_called == ["lookup", "ping", "lookup"]
    assert out.state.history == ("lookup", "ping", "lookup")
    assert out.failed_calls == 0


# -- heartbeat --------------------------------------------------------------------------


def test_heartbeat_is_stripped_from_args_and_drives_continuation() -> None:
    runner = FakeRunner()
    out = resolve(
        ModelResponse(tool_calls=(call("lookup", {"q": "x"}, heartbeat=True),)), runner=runner
    )
    assert runner.calls[0][2] == {"q": "x"}
    assert out.done is False
    assert out.stop_reason == ""
    assert out.heartbeat is not None
    assert out.heartbeat.role == "user" and out.heartbeat.kind == "heartbeat"
    assert body(out.heartbeat)["type"] == "heartbeat"


def test_no_heartbeat_ends_turn() -> None:
    runner = FakeRunner()
    out = resolve(
        ModelResponse(tool_calls=(call("lookup", {"q": "x"}, heartbeat=False),)), runner=runner
    )
    assert runner.calls[0][2] == {"q": "x"}
    assert out.done is True
    assert out.stop_reason == "end_turn"
    assert out.heartbeat is None


@pytest.mark.parametrize("value", ["true", "True", 1])
def test_heartbeat_loose_truthy_values_continue(value: Any) -> None:
    raw = json.dumps({"q": "x", "request_heartbeat": value})
    out = resolve(ModelResponse(tool_calls=(call("lookup", raw=raw),)))
    assert out.done is False


def test_heartbeat_string_false_does_not_continue() -> None:
    raw = json.dumps({"q": "x", "request_heartbeat": "false"})
    out = resolve(ModelResponse(tool_calls=(call("lookup", raw=raw),)))
    assert out.done is True and out.stop_reason == "end_turn"


def test_heartbeat_from_any_call_in_the_response_continues() -> None:
    calls = (call("ping", heartbeat=True), call("lookup", {"q": "x"}, heartbeat=False))
    out = resolve(ModelResponse(tool_calls=calls))
    assert out.done is False


# -- failed checks ----------------------------------------------------------------------


def test_invalid_json_arguments_fail_and_continue() -> None:
    runner = FakeRunner()
    bad = call("lookup", raw='{"q": "unterminated', id="toolu_bad")
    good = call("ping", id="toolu_good")
    out = resolve(ModelResponse(tool_calls=(bad, good)), runner=runner)
    # the bad call never reached the runner; the good one still ran
    assert [c.id for _, c, _ in runner.calls] == ["toolu_good"]
    first = out.tool_messages[0]
    assert first.tool_call_id == "toolu_bad"
    assert first.is_error is True
    assert body(first)["status"] == "Failed"
    assert "JSON" in body(first)["message"]
    assert out.failed_calls == 1
    assert out.done is False and out.heartbeat is not None
    assert "failed" in body(out.heartbeat)["reason"]
    assert out.state.history == ("ping",)


def test_non_object_json_arguments_fail() -> None:
    runner = FakeRunner()
    out = resolve(ModelResponse(tool_calls=(call("ping", raw="[1, 2]"),)), runner=runner)
    assert runner.calls == []
    assert out.tool_messages[0].is_error
    assert out.done is False


def test_unknown_tool_fails_without_running() -> None:
    runner = FakeRunner()
    out = resolve(ModelResponse(tool_calls=(call("rm_rf", heartbeat=False),)), runner=runner)
    assert runner.calls == []
    msg = out.tool_messages[0]
    assert msg.is_error and body(msg)["status"] == "Failed"
    assert "unknown tool" in body(msg)["message"]
    assert "lookup" in body(msg)["message"]  # names the agent's tools
    assert out.failed_calls == 1
    assert out.done is False
    assert out.state.history == ()


def test_tool_in_catalog_but_not_attached_to_agent_is_unknown() -> None:
    runner = FakeRunner()
    spec = agent(tools=("send_message", "ping"))
    out = resolve(ModelResponse(tool_calls=(call("lookup", {"q": "x"}),)), spec=spec, runner=runner)
    assert runner.calls == []
    assert "unknown tool" in body(out.tool_messages[0])["message"]


def test_tool_not_allowed_by_rules_fails_naming_allowed_tools() -> None:
    runner = FakeRunner()
    spec = agent([{"type": "init", "tool": "lookup"}])
    out = resolve(
        ModelResponse(tool_calls=(call("ping", heartbeat=False),)), spec=spec, runner=runner
    )
    assert runner.calls == []
    msg = out.tool_messages[0]
    assert msg.is_error
    text = body(msg)["message"]
    assert "not allowed" in text
    assert "allowed: lookup" in text
    assert out.done is False
    assert out.state.history == ()


def test_missing_required_argument_fails() -> None:
    runner = FakeRunner()
    out = resolve(ModelResponse(tool_calls=(call("lookup", {}, heartbeat=False),)), runner=runner)
    assert runner.calls == []
    msg = out.tool_messages[0]
    assert msg.is_error
    assert "missing required argument 'q'" in body(msg)["message"]
    assert out.failed_calls == 1
    assert out.done is False


def test_wrong_argument_type_fails() -> None:
    runner = FakeRunner()
    out = resolve(ModelResponse(tool_calls=(call("lookup", {"q": 5}),)), runner=runner)
    assert runner.calls == []
    assert out.tool_messages[0].is_error


def test_runner_failure_counts_as_failed_but_ran() -> None:
    runner = FakeRunner({"ping": ToolResult(False, "boom")})
    out = resolve(ModelResponse(tool_calls=(call("ping", heartbeat=False),)), runner=runner)
    msg = out.tool_messages[0]
    assert msg.is_error and body(msg) == {"status": "Failed", "message": "boom"}
    assert out.failed_calls == 1
    assert out.state.history == ("ping",)  # it ran
    assert out.done is False


# -- text answers -----------------------------------------------------------------------


def test_text_only_answer_is_final_reply() -> None:
    runner = FakeRunner()
    out = resolve(ModelResponse(content="All done."), runner=runner)
    assert out.done is True
    assert out.stop_reason == "final_reply"
    assert out.reply == "All done."
    assert out.tool_messages == []
    assert out.heartbeat is None
    assert runner.calls == []
    assert out.assistant.content == "All done."


def test_text_answer_with_required_before_exit_unmet_continues() -> None:
    spec = agent([{"type": "required_before_exit", "tool": "finish"}])
    out = resolve(ModelResponse(content="bye"), spec=spec, steps_done=1, max_steps=5)
    assert out.done is False
    assert out.heartbeat is not None
    assert "finish" in body(out.heartbeat)["reason"]


def test_text_answer_with_required_before_exit_met_finishes() -> None:
    spec = agent([{"type": "required_before_exit", "tool": "finish"}])
    out = resolve(ModelResponse(content="bye"), spec=spec, state=SolverState(("finish",)))
    assert out.done is True and out.stop_reason == "final_reply"


def test_text_answer_with_required_before_exit_unmet_at_last_step_finishes() -> None:
    spec = agent([{"type": "required_before_exit", "tool": "finish"}])
    out = resolve(ModelResponse(content="bye"), spec=spec, steps_done=5, max_steps=5)
    assert out.done is True
    assert out.stop_reason == "final_reply"


def test_tool_answer_with_required_before_exit_unmet_continues() -> None:
    spec = agent([{"type": "required_before_exit", "tool": "finish"}])
    out = resolve(ModelResponse(tool_calls=(call("ping", heartbeat=False),)), spec=spec)
    assert out.done is False
    assert "finish" in body(out.heartbeat)["reason"]


# -- rules that decide continuation -----------------------------------------------------


def test_terminal_tool_ends_even_with_heartbeat() -> None:
    spec = agent([{"type": "terminal", "tool": "finish"}])
    calls = (call("ping", heartbeat=True), call("finish", heartbeat=True))
    out = resolve(ModelResponse(tool_calls=calls), spec=spec)
    assert out.done is True
    assert out.stop_reason == "terminal_tool"
    assert out.heartbeat is None


def test_terminal_tool_that_failed_a_check_does_not_end() -> None:
    spec = agent([{"type": "terminal", "tool": "finish"}])
    out = resolve(ModelResponse(tool_calls=(call("finish", raw="{oops"),)), spec=spec)
    assert out.done is False


def test_continue_rule_tool_continues_without_heartbeat() -> None:
    spec = agent([{"type": "continue", "tool": "ping"}])
    out = resolve(ModelResponse(tool_calls=(call("ping", heartbeat=False),)), spec=spec)
    assert out.done is False
    assert out.heartbeat is not None


def test_max_steps_ends_even_with_heartbeat() -> None:
    out = resolve(
        ModelResponse(tool_calls=(call("ping", heartbeat=True),)), steps_done=3, max_steps=3
    )
    assert out.done is True
    assert out.stop_reason == "max_steps"
    assert out.heartbeat is None


def test_max_steps_ends_even_after_failed_call() -> None:
    out = resolve(ModelResponse(tool_calls=(call("nope"),)), steps_done=3, max_steps=3)
    assert out.done is True and out.stop_reason == "max_steps"


# -- send_message / assistant message ----------------------------------------------------


def test_send_message_sets_reply() -> None:
    c = call("send_message", {"message": "Hello, user"}, heartbeat=False)
    out = resolve(ModelResponse(content="thinking aloud", tool_calls=(c,)))
    assert out.reply == "Hello, user"
    assert out.done is True and out.stop_reason == "end_turn"


def test_failed_send_message_does_not_set_reply() -> None:
    c = call("send_message", {}, heartbeat=False)  # missing "message"
    out = resolve(ModelResponse(tool_calls=(c,)))
    assert out.reply is None


def test_assistant_message_keeps_content_reasoning_signature_and_ids() -> None:
    calls = (call("ping", id="toolu_provider_1"), call("lookup", {"q": "z"}, id="toolu_provider_2"))
    response = ModelResponse(
        content="Let me check.",
        tool_calls=calls,
        reasoning="I should ping first.",
        reasoning_signature="sig-abc==",
    )
    out = resolve(response)
    a = out.assistant
    assert a.role == "assistant" and a.kind == "assistant"
    assert a.content == "Let me check."
    assert a.reasoning == "I should ping first."
    assert a.reasoning_signature == "sig-abc=="
    assert a.tool_calls == calls
    assert [c.id for c in a.tool_calls] == ["toolu_provider_1", "toolu_provider_2"]


# -- solver within one response ----------------------------------------------------------


COND_RULES = [
    {
        "type": "conditional",
        "tool": "classify",
        "mapping": {"good": "approve", "bad": "reject"},
        "require_output_mapping": True,
    },
]


def test_conditional_uses_output_for_next_call_in_same_response() -> None:
    spec = agent(COND_RULES)
    runner = FakeRunner({"classify": ToolResult(True, "good")})
    calls = (
        call("classify", id="c1"),
        call("reject", id="c2"),  # not allowed: output was "good"
        call("approve", id="c3"),  # still right after classify: allowed
    )
    out = resolve(ModelResponse(tool_calls=calls), spec=spec, runner=runner)
    assert [c.id for _, c, _ in runner.calls] == ["c1", "c3"]
    assert [m.is_error for m in out.tool_messages] == [False, True, False]
    assert "allowed: approve" in body(out.tool_messages[1])["message"]
    assert out.state.history == ("classify", "approve")
    assert out.state.last_output == "done approve"


def test_conditional_other_output_flips_choice() -> None:
    spec = agent(COND_RULES)
    runner = FakeRunner({"classify": ToolResult(True, "BAD")})
    calls = (call("classify", id="c1"), call("reject", id="c2"))
    out = resolve(ModelResponse(tool_calls=calls), spec=spec, runner=runner)
    assert [c.id for _, c, _ in runner.calls] == ["c1", "c2"]
    assert out.failed_calls == 0


def test_max_count_applies_within_one_response() -> None:
    spec = agent([{"type": "max_count_per_step", "tool": "ping", "max_count": 1}])
    runner = FakeRunner()
    calls = (call("ping", id="p1"), call("ping", id="p2"))
    out = resolve(ModelResponse(tool_calls=calls), spec=spec, runner=runner)
    assert [c.id for _, c, _ in runner.calls] == ["p1"]
    assert out.tool_messages[1].is_error


def test_state_history_records_only_calls_that_ran() -> None:
    runner = FakeRunner()
    prior = SolverState(("lookup",), "old")
    calls = (
        call("ping", id="a"),
        call("ghost", id="b"),
        call("lookup", {}, id="c"),  # missing arg
        call("lookup", raw="not json", id="d"),
        call("lookup", {"q": "ok"}, id="e"),
    )
    out = resolve(ModelResponse(tool_calls=calls), runner=runner, state=prior)
    assert out.state.history == ("lookup", "ping", "lookup")
    assert out.state.last_output == "done lookup"
    assert out.failed_calls == 3
    assert len(out.tool_messages) == 5
    assert prior.history == ("lookup",)  # input state untouched


# -- pending results ----------------------------------------------------------------------


def test_runner_returning_none_raises_result_pending_with_call_and_args() -> None:
    runner = FakeRunner({"lookup": None})
    c = call("lookup", {"q": "slow"}, id="toolu_slow", heartbeat=True)
    with pytest.raises(ResultPending) as info:
        resolve(ModelResponse(tool_calls=(call("ping", id="first"), c)), runner=runner)
    assert info.value.call == c
    assert info.value.arguments == {"q": "slow"}
    assert [x.id for _, x, _ in runner.calls] == ["first", "toolu_slow"]


# -- text answers while a tool call is demanded ---------------------------------------------


def test_text_answer_when_init_pending_continues() -> None:
    spec = agent([{"type": "init", "tool": "lookup"}])
    out = resolve(ModelResponse(content="hi"), spec=spec, steps_done=1, max_steps=5)
    assert out.done is False
    assert out.heartbeat is not None


def test_text_answer_after_child_rule_tool_continues() -> None:
    spec = agent([{"type": "child", "tool": "lookup", "children": ["ping"]}])
    out = resolve(ModelResponse(content="hi"), spec=spec, state=SolverState(("lookup",), "r"))
    assert out.done is False


def test_text_answer_when_no_tool_is_allowed_finishes() -> None:
    spec = agent(COND_RULES)
    state = SolverState(("classify",), "unmapped output")
    assert RuleSet(spec.rules).allowed(spec.tool_names, state) == []  # request had tools=()
    out = resolve(
        ModelResponse(content="nothing I can do"),
        spec=spec,
        state=state,
        steps_done=1,
        max_steps=10,
    )
    assert out.done is True
    assert out.stop_reason == "final_reply"


def test_strict_schema_tool_accepts_heartbeat_because_it_is_stripped_first() -> None:
    strict = ToolSpec(
        "strict",
        "Strict",
        {**_obj({"x": {"type": "integer"}}, ["x"]), "additionalProperties": False},
    )
    runner = FakeRunner()
    spec = agent(tools=("strict",))
    out = resolve_step(
        spec,
        RuleSet(),
        SolverState(),
        ModelResponse(tool_calls=(call("strict", {"x": 1}, heartbeat=True),)),
        catalog=ToolCatalog({"strict": strict}),
        runner=runner,
        steps_done=1,
        max_steps=5,
    )
    assert out.failed_calls == 0
    assert runner.calls[0][2] == {"x": 1}
    assert out.done is False
