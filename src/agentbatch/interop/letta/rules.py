"""Tool rules: Letta's nine kinds to our eight and back.

| Letta (``type``)         | agentbatch              | note                                     |
|--------------------------|-------------------------|------------------------------------------|
| ``run_first``            | ``init``                | prefilled ``args`` are not supported     |
| ``exit_loop``            | ``terminal``            |                                          |
| ``continue_loop``        | ``continue``            |                                          |
| ``constrain_child_tools``| ``child``               | ``child_arg_nodes`` are not supported    |
| ``conditional``          | ``conditional``         | output keys compared as text             |
| ``parent_last_tool``     | ``parent``              | ours: children once the parent ran       |
| ``max_count_per_step``   | ``max_count_per_step``  | per run, as Letta counts it              |
| ``required_before_exit`` | ``required_before_exit``|                                          |
| ``requires_approval``    | (none)                  | no human-in-the-loop: not imported       |
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from agentbatch.domain.rules import ToolRule
from agentbatch.interop.letta import schema as s

TO_LETTA = {
    "init": "run_first",
    "terminal": "exit_loop",
    "continue": "continue_loop",
    "child": "constrain_child_tools",
    "conditional": "conditional",
    "parent": "parent_last_tool",
    "max_count_per_step": "max_count_per_step",
    "required_before_exit": "required_before_exit",
}
FROM_LETTA = {v: k for k, v in TO_LETTA.items()}


def _key_text(key: str) -> str:
    """Letta matches bool keys as true/false; JSON dumps of True give 'True' in some files."""
    return key.lower() if key in ("True", "False") else key


def rule_from_letta(
    rule: Any, rename: Callable[[str], str | None], note: Callable[[str], None]
) -> dict[str, Any] | None:
    """Our rule dict for a Letta rule, or None (with a note saying why) when it cannot be
    kept. ``rename`` maps a Letta tool name to ours (None: the tool was not imported)."""
    kind = FROM_LETTA.get(rule.type)
    where = f"tool rule {rule.type} on {rule.tool_name!r}"
    if kind is None:
        note(f"{where}: agentbatch has no approval step (human in the loop); rule dropped")
        return None
    tool = rename(rule.tool_name)
    if tool is None:
        note(f"{where}: {rule.tool_name!r} is not among the agent's imported tools; rule dropped")
        return None
    out: dict[str, Any] = {"type": kind, "tool": tool}
    if isinstance(rule, s.InitRule) and rule.args:
        note(f"{where}: prefilled args {json.dumps(rule.args)[:200]} are not supported; dropped")
    if isinstance(rule, s.ChildRule | s.ParentRule):
        if isinstance(rule, s.ChildRule) and rule.child_arg_nodes:
            note(f"{where}: child_arg_nodes (prefilled child arguments) are not supported")
        children = _kept(rule.children, rename, where, note)
        if not children:
            note(f"{where}: none of its children was imported; rule dropped")
            return None
        out["children"] = children
    elif isinstance(rule, s.ConditionalRule):
        mapping: dict[str, str] = {}
        for key, child in rule.child_output_mapping.items():
            ours = rename(child)
            if ours is None:
                note(f"{where}: output {key!r} -> {child!r} dropped (tool not imported)")
            else:
                mapping[_key_text(key)] = ours
        default = rename(rule.default_child) if rule.default_child else None
        if rule.default_child and default is None:
            note(f"{where}: default_child {rule.default_child!r} dropped (tool not imported)")
        if not mapping and default is None:
            note(f"{where}: nothing left to map; rule dropped")
            return None
        out["mapping"] = mapping
        if default is not None:
            out["default_child"] = default
        out["require_output_mapping"] = rule.require_output_mapping
    elif isinstance(rule, s.MaxCountRule):
        out["max_count"] = rule.max_count_limit
    return out


def _kept(
    names: Iterable[str], rename: Callable[[str], str | None], where: str, note: Any
) -> list[str]:
    kept: list[str] = []
    for name in names:
        ours = rename(name)
        if ours is None:
            note(f"{where}: child {name!r} dropped (not among the agent's imported tools)")
        elif ours not in kept:
            kept.append(ours)
    return kept


def rule_to_letta(rule: ToolRule) -> dict[str, Any]:
    out: dict[str, Any] = {"tool_name": rule.tool, "type": TO_LETTA[rule.kind]}
    if rule.kind == "init":
        out["args"] = None
    if rule.kind in ("child", "parent"):
        out["children"] = list(rule.children)
        if rule.kind == "child":
            out["child_arg_nodes"] = None
    elif rule.kind == "conditional":
        out["default_child"] = rule.default_child
        out["child_output_mapping"] = dict(rule.mapping)
        out["require_output_mapping"] = rule.require_output_mapping
    elif rule.kind == "max_count_per_step":
        out["max_count_limit"] = rule.max_count
    out["prompt_template"] = None
    return out
