"""The tool-rule solver. Its state (the tools called so far in a run, with the last output)
travels with the run, so any worker can resume it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentbatch.domain.rules import ToolRule


@dataclass(frozen=True, slots=True)
class SolverState:
    """Tool names called in this run, in order, and the last tool's output (as text)."""

    history: tuple[str, ...] = ()
    last_output: str | None = None

    def after_call(self, tool: str, output: str | None) -> SolverState:
        return SolverState(history=(*self.history, tool), last_output=output)

    def to_dict(self, keep_output: bool = True) -> dict[str, Any]:
        """``keep_output=False`` drops the last output (only conditional rules read it)."""
        return {
            "history": list(self.history),
            "last_output": self.last_output if keep_output else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SolverState:
        if not data:
            return cls()
        return cls(history=tuple(data.get("history") or ()), last_output=data.get("last_output"))


@dataclass(frozen=True, slots=True)
class RuleSet:
    """An agent's rules, indexed by kind for the questions the step cycle asks."""

    rules: Sequence[ToolRule] = ()
    _by_kind: dict[str, list[ToolRule]] = field(default_factory=dict, repr=False)

    _tools: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for rule in self.rules:
            self._by_kind.setdefault(rule.kind, []).append(rule)
        for kind, rules in self._by_kind.items():
            self._tools[kind] = frozenset(r.tool for r in rules)

    def of(self, kind: str) -> list[ToolRule]:
        return self._by_kind.get(kind, [])

    def tools_of(self, kind: str) -> frozenset[str]:
        return self._tools.get(kind, frozenset())

    # -- allowed tools ------------------------------------------------------------------

    def allowed(self, available: Iterable[str], state: SolverState) -> list[str]:
        """The tools the model may call next, in the agent's order."""
        names = list(available)
        allowed = set(names)
        if not self.rules:
            return names
        init = set(self.tools_of("init")) & allowed
        if not state.history and init:
            allowed = init
        elif state.history:
            last = state.history[-1]
            for rule in self.of("child"):
                if rule.tool == last:
                    allowed &= set(rule.children)
            for rule in self.of("conditional"):
                if rule.tool == last:
                    allowed &= self._conditional_children(rule, state.last_output)
        called = set(state.history)
        for rule in self.of("parent"):
            if rule.tool not in called:
                allowed -= set(rule.children)
        for rule in self.of("max_count_per_step"):
            if state.history.count(rule.tool) >= rule.max_count:
                allowed.discard(rule.tool)
        return [n for n in names if n in allowed]

    @staticmethod
    def _conditional_children(rule: ToolRule, output: str | None) -> set[str]:
        key = (output or "").strip()
        if key in rule.mapping:
            return {rule.mapping[key]}
        # outputs are often JSON-ish; try a case-insensitive match before falling back
        for value, child in rule.mapping.items():
            if value.lower() == key.lower():
                return {child}
        if rule.default_child is not None:
            return {rule.default_child}
        if rule.require_output_mapping:
            return set()
        return set(rule.mapping.values())

    def must_call_tool(self, state: SolverState) -> bool:
        """True when the next answer has to be a tool call (init pending or a child rule)."""
        if not state.history:
            return bool(self.tools_of("init"))
        last = state.history[-1]
        return any(r.tool == last for r in (*self.of("child"), *self.of("conditional")))

    # -- continuation ---------------------------------------------------------------------

    def is_terminal(self, tool: str) -> bool:
        return tool in self.tools_of("terminal")

    def forces_continue(self, tool: str) -> bool:
        return tool in self.tools_of("continue")

    def missing_before_exit(self, state: SolverState) -> list[str]:
        called = set(state.history)
        return sorted(t for t in self.tools_of("required_before_exit") if t not in called)
