"""Tool rules: the eight kinds, parsed from plain dicts and validated against tool names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

RULE_KINDS = (
    "init",
    "terminal",
    "continue",
    "child",
    "conditional",
    "parent",
    "max_count_per_step",
    "required_before_exit",
)


@dataclass(frozen=True, slots=True)
class ToolRule:
    """One rule about ``tool``.

    - ``init``: must be called first in a run.
    - ``terminal``: calling it ends the run.
    - ``continue``: calling it forces another step.
    - ``child``: after ``tool`` only ``children`` are allowed.
    - ``conditional``: after ``tool`` the allowed child is ``mapping[output]`` (else
      ``default_child``; with ``require_output_mapping`` an unmapped output allows nothing).
    - ``parent``: ``children`` are allowed only once ``tool`` has been called in the run.
    - ``max_count_per_step``: ``tool`` may be called at most ``max_count`` times per run.
    - ``required_before_exit``: the run may not end before ``tool`` was called.
    """

    kind: str
    tool: str
    children: tuple[str, ...] = ()
    mapping: Mapping[str, str] = field(default_factory=dict)
    default_child: str | None = None
    require_output_mapping: bool = False
    max_count: int = 1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "tool": self.tool}
        if self.kind in ("child", "parent"):
            out["children"] = list(self.children)
        if self.kind == "conditional":
            out["mapping"] = dict(self.mapping)
            if self.default_child is not None:
                out["default_child"] = self.default_child
            out["require_output_mapping"] = self.require_output_mapping
        if self.kind == "max_count_per_step":
            out["max_count"] = self.max_count
        return out

    def named_tools(self) -> set[str]:
        names = {self.tool, *self.children, *self.mapping.values()}
        if self.default_child:
            names.add(self.default_child)
        return names


def parse_rule(raw: Any) -> ToolRule:
    """Build a rule from ``{"type": kind, "tool": name, ...}``; ValueError if malformed."""
    if not isinstance(raw, Mapping):
        raise ValueError("a tool rule must be an object with 'type' and 'tool'")
    kind = raw.get("type")
    if kind not in RULE_KINDS:
        raise ValueError(
            f"unknown tool rule type {kind!r}; expected one of {', '.join(RULE_KINDS)}"
        )
    tool = raw.get("tool")
    if not isinstance(tool, str) or not tool:
        raise ValueError(f"{kind} rule needs a 'tool' name")
    if kind in ("child", "parent"):
        children = raw.get("children")
        if (
            not isinstance(children, list)
            or not children
            or not all(isinstance(c, str) for c in children)
        ):
            raise ValueError(f"{kind} rule for {tool!r} needs a non-empty 'children' list")
        return ToolRule(kind=kind, tool=tool, children=tuple(children))
    if kind == "conditional":
        mapping = raw.get("mapping", raw.get("child_output_mapping", {}))
        if not isinstance(mapping, Mapping) or not all(
            isinstance(v, str) for v in mapping.values()
        ):
            raise ValueError(f"conditional rule for {tool!r} needs a 'mapping' of output -> tool")
        default = raw.get("default_child")
        if default is not None and not isinstance(default, str):
            raise ValueError(f"conditional rule for {tool!r}: default_child must be a tool name")
        if not mapping and default is None:
            raise ValueError(f"conditional rule for {tool!r} needs a mapping or a default_child")
        return ToolRule(
            kind=kind,
            tool=tool,
            mapping={str(k): v for k, v in mapping.items()},
            default_child=default,
            require_output_mapping=bool(raw.get("require_output_mapping", False)),
        )
    if kind == "max_count_per_step":
        count = raw.get("max_count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"max_count_per_step rule for {tool!r} needs max_count >= 1")
        return ToolRule(kind=kind, tool=tool, max_count=count)
    return ToolRule(kind=kind, tool=tool)


def parse_rules(raw: Iterable[Any] | None, tool_names: Iterable[str]) -> tuple[ToolRule, ...]:
    """Parse and check that every rule names only tools the agent has."""
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise ValueError("tool_rules must be a list")
    known = set(tool_names)
    rules = tuple(parse_rule(r) for r in raw)
    for rule in rules:
        missing = sorted(rule.named_tools() - known)
        if missing:
            raise ValueError(
                f"{rule.kind} rule names tools the agent does not have: {', '.join(missing)}"
            )
    return rules
