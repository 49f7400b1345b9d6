"""The tool-rule solver: which tools the model may call next, and how a run continues."""

from __future__ import annotations

import pytest

from agentbatch.domain.rules import ToolRule, parse_rule
from agentbatch.step.solver import RuleSet, SolverState

TOOLS = ("send_message", "search", "fetch", "summarize", "archive", "done")


def rules(*raw: dict) -> RuleSet:
    return RuleSet(tuple(parse_rule(r) for r in raw))


def state(*history: str, last_output: str | None = None) -> SolverState:
    return SolverState(history=tuple(history), last_output=last_output)


# -- no rules ---------------------------------------------------------------------------


def test_no_rules_allows_every_tool_in_agent_order() -> None:
    rs = RuleSet()
    assert rs.allowed(TOOLS, SolverState()) == list(TOOLS)
    assert rs.allowed(TOOLS, state("search", "fetch")) == list(TOOLS)
    assert rs.must_call_tool(SolverState()) is False
    assert rs.missing_before_exit(state()) == []


def test_allowed_keeps_agent_tool_order_not_rule_order() -> None:
    rs = rules({"type": "child", "tool": "search", "children": ["done", "fetch", "send_message"]})
    assert rs.allowed(TOOLS, state("search")) == ["send_message", "fetch", "done"]
    reordered = ("fetch", "done", "send_message", "search")
    assert rs.allowed(reordered, state("search")) == ["fetch", "done", "send_message"]


# -- init -------------------------------------------------------------------------------


def test_init_only_init_tools_before_any_call() -> None:
    rs = rules({"type": "init", "tool": "search"})
    assert rs.allowed(TOOLS, SolverState()) == ["search"]
    assert rs.must_call_tool(SolverState()) is True


def test_init_restriction_lifts_after_first_call() -> None:
    rs = rules({"type": "init", "tool": "search"})
    after = SolverState().after_call("search", "ok")
    assert rs.allowed(TOOLS, after) == list(TOOLS)
    assert rs.must_call_tool(after) is False


def test_several_init_tools_are_all_allowed_first() -> None:
    rs = rules({"type": "init", "tool": "fetch"}, {"type": "init", "tool": "search"})
    assert rs.allowed(TOOLS, SolverState()) == ["search", "fetch"]


def test_init_tool_the_agent_lacks_does_not_block_everything() -> None:
    rs = rules({"type": "init", "tool": "not_mine"})
    assert rs.allowed(("search", "done"), SolverState()) == ["search", "done"]


# -- terminal / continue ----------------------------------------------------------------


def test_terminal_rule() -> None:
    rs = rules({"type": "terminal", "tool": "done"})
    assert rs.is_terminal("done") is True
    assert rs.is_terminal("search") is False
    # a terminal rule does not restrict what is allowed
    assert rs.allowed(TOOLS, SolverState()) == list(TOOLS)


def test_continue_rule() -> None:
    rs = rules({"type": "continue", "tool": "search"})
    assert rs.forces_continue("search") is True
    assert rs.forces_continue("done") is False
    assert rs.is_terminal("search") is False


# -- child ------------------------------------------------------------------------------


def test_child_after_tool_only_children() -> None:
    rs = rules({"type": "child", "tool": "search", "children": ["fetch", "summarize"]})
    assert rs.allowed(TOOLS, state("search")) == ["fetch", "summarize"]
    assert rs.must_call_tool(state("search")) is True


def test_child_applies_only_right_after_its_tool() -> None:
    rs = rules({"type": "child", "tool": "search", "children": ["fetch"]})
    assert rs.allowed(TOOLS, state("search", "fetch")) == list(TOOLS)
    assert rs.allowed(TOOLS, SolverState()) == list(TOOLS)
    assert rs.must_call_tool(state("search", "fetch")) is False


def test_child_children_the_agent_lacks_are_not_invented() -> None:
    rs = rules({"type": "child", "tool": "search", "children": ["fetch", "ghost"]})
    assert rs.allowed(("search", "fetch"), state("search")) == ["fetch"]


# -- conditional ------------------------------------------------------------------------


COND = {
    "type": "conditional",
    "tool": "search",
    "mapping": {"found": "fetch", "empty": "done"},
}


def test_conditional_picks_child_by_output() -> None:
    rs = rules(COND)
    assert rs.allowed(TOOLS, state("search", last_output="found")) == ["fetch"]
    assert rs.allowed(TOOLS, state("search", last_output="empty")) == ["done"]
    assert rs.must_call_tool(state("search", last_output="found")) is True


def test_conditional_match_is_case_insensitive_and_strips_whitespace() -> None:
    rs = rules(COND)
    assert rs.allowed(TOOLS, state("search", last_output="FOUND")) == ["fetch"]
    assert rs.allowed(TOOLS, state("search", last_output="  Empty\n")) == ["done"]


def test_conditional_unmapped_output_uses_default_child() -> None:
    rs = rules({**COND, "default_child": "summarize"})
    assert rs.allowed(TOOLS, state("search", last_output="something else")) == ["summarize"]
    # a mapped output still wins over the default
    assert rs.allowed(TOOLS, state("search", last_output="found")) == ["fetch"]


def test_conditional_require_output_mapping_unmapped_allows_nothing() -> None:
    rs = rules({**COND, "require_output_mapping": True})
    assert rs.allowed(TOOLS, state("search", last_output="??")) == []
    assert rs.allowed(TOOLS, state("search", last_output=None)) == []
    assert rs.allowed(TOOLS, state("search", last_output="found")) == ["fetch"]


def test_conditional_unmapped_no_default_not_required_allows_all_mapped_children() -> None:
    rs = rules(COND)
    assert rs.allowed(TOOLS, state("search", last_output="??")) == ["fetch", "done"]


def test_conditional_only_right_after_its_tool() -> None:
    rs = rules(COND)
    assert rs.allowed(TOOLS, state("search", "fetch", last_output="empty")) == list(TOOLS)


# -- parent -----------------------------------------------------------------------------


def test_parent_blocks_children_until_parent_called() -> None:
    rs = rules({"type": "parent", "tool": "search", "children": ["fetch", "summarize"]})
    assert rs.allowed(TOOLS, SolverState()) == ["send_message", "search", "archive", "done"]
    assert rs.allowed(TOOLS, state("send_message")) == [
        "send_message",
        "search",
        "archive",
        "done",
    ]
    # once the parent ran, anywhere earlier in the run, its children are allowed
    assert rs.allowed(TOOLS, state("search", "send_message")) == list(TOOLS)


# -- max_count_per_step -----------------------------------------------------------------


def test_max_count_tool_disappears_after_n_calls() -> None:
    rs = rules({"type": "max_count_per_step", "tool": "search", "max_count": 2})
    assert "search" in rs.allowed(TOOLS, SolverState())
    assert "search" in rs.allowed(TOOLS, state("search"))
    assert "search" in rs.allowed(TOOLS, state("search", "fetch"))
    after_two = state("search", "fetch", "search")
    assert "search" not in rs.allowed(TOOLS, after_two)
    assert rs.allowed(TOOLS, after_two) == [t for t in TOOLS if t != "search"]


# -- required_before_exit ---------------------------------------------------------------


def test_required_before_exit_missing_until_called() -> None:
    rs = rules(
        {"type": "required_before_exit", "tool": "summarize"},
        {"type": "required_before_exit", "tool": "archive"},
    )
    assert rs.missing_before_exit(SolverState()) == ["archive", "summarize"]
    assert rs.missing_before_exit(state("summarize")) == ["archive"]
    assert rs.missing_before_exit(state("archive", "search", "summarize")) == []
    # it does not restrict the allowed tools
    assert rs.allowed(TOOLS, SolverState()) == list(TOOLS)


# -- combinations -----------------------------------------------------------------------


def test_init_then_child_then_max_count_combine() -> None:
    rs = rules(
        {"type": "init", "tool": "search"},
        {"type": "child", "tool": "search", "children": ["fetch", "search"]},
        {"type": "max_count_per_step", "tool": "search", "max_count": 1},
    )
    assert rs.allowed(TOOLS, SolverState()) == ["search"]
    # after search only its children, and search itself is used up
    assert rs.allowed(TOOLS, state("search")) == ["fetch"]


def test_ruleset_accepts_prebuilt_rules() -> None:
    rs = RuleSet((ToolRule(kind="terminal", tool="done"),))
    assert rs.is_terminal("done")
    assert rs.of("init") == []
    assert rs.tools_of("terminal") == {"done"}


# -- state ------------------------------------------------------------------------------


def test_after_call_is_pure_and_appends() -> None:
    s0 = SolverState()
    s1 = s0.after_call("search", "found")
    s2 = s1.after_call("fetch", None)
    assert s0.history == ()
    assert s1 == SolverState(("search",), "found")
    assert s2 == SolverState(("search", "fetch"), None)


@pytest.mark.parametrize(
    "s",
    [SolverState(), SolverState(("a",), "out"), SolverState(("a", "b", "a"), None)],
)
def test_state_round_trip(s: SolverState) -> None:
    import json

    data = json.loads(json.dumps(s.to_dict()))  # survives a JSON column
    assert SolverState.from_dict(data) == s


def test_state_from_empty_or_none() -> None:
    assert SolverState.from_dict(None) == SolverState()
    assert SolverState.from_dict({}) == SolverState()
