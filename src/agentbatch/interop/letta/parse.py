"""Validate a decoded Agent File into the ``schema`` models, or refuse it with an error
naming the first bad field (``agents[0].tool_rules[1].children: Field required``)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from agentbatch.errors import InvalidInput
from agentbatch.interop.letta.schema import AgentFileDoc

_TAGS = frozenset(
    {"text", "reasoning", "tool_call", "tool_return", "other"}
    | {
        "run_first",
        "exit_loop",
        "continue_loop",
        "constrain_child_tools",
        "parent_last_tool",
        "conditional",
        "max_count_per_step",
        "required_before_exit",
        "requires_approval",
    }
)
_TYPE_NAMES = frozenset({"str", "int", "float", "bool", "none", "dict", "list"})


def _path(loc: tuple[int | str, ...]) -> str:
    """``agents[0].tool_rules[1].children`` from a pydantic error location (union member
    and discriminator tags left out)."""
    out = ""
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif (
            part in _TYPE_NAMES
            or "[" in part
            or "-" in part
            or (isinstance(previous, int) and part in _TAGS)
        ):
            pass
        else:
            out += f".{part}" if out else part
        previous = part
    return out or "file"


def _first_error(errors: list[Any]) -> tuple[str, str]:
    """The first bad field: within the first failing place, the most specific error (a
    union reports one error per member; the deepest one says what is wrong)."""
    first = _path(tuple(errors[0]["loc"]))
    base = first.rsplit(".", 1)[0] if "." in first else first
    same = [
        e
        for e in errors
        if (p := _path(tuple(e["loc"]))) == base or p.startswith((f"{base}.", f"{base}["))
    ]
    best = max(same, key=lambda e: len(_path(tuple(e["loc"]))))
    return _path(tuple(best["loc"])), best["msg"]


def _unstorable(text: str) -> bool:
    """A NUL (PostgreSQL text cannot hold one) or a lone surrogate (not valid UTF-8)."""
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _maybe_unstorable(data: Any) -> bool:
    """A fast screen (C-speed JSON encoding) before the walk that finds the place."""
    try:
        text = json.dumps(data, ensure_ascii=False)
    except (TypeError, ValueError):
        return True
    if "\\u0000" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _nul_path(data: Any) -> str | None:
    """Where the first text that cannot be stored sits, if anywhere."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if _unstorable(value):
                return where or "file"
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                if _unstorable(key):
                    return where or "file"
                stack.append((f"{where}.{key}" if where else key, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in reversed(list(enumerate(value))))
    return None


def parse_agent_file(data: Any) -> AgentFileDoc:
    """Validate a decoded Agent File; InvalidInput naming the first bad field otherwise."""
    if isinstance(data, dict) and "agents" not in data and ("core_memory" in data):
        raise InvalidInput(
            "this is Letta's legacy single-agent Agent File (v1); export it again from a "
            "Letta server of 0.8 or later (the multi-agent v2 format) and import that"
        )
    if not isinstance(data, dict):
        raise InvalidInput("an Agent File must be a JSON object with an 'agents' list")
    nul = _nul_path(data) if _maybe_unstorable(data) else None
    if nul is not None:
        raise InvalidInput(
            f"invalid Agent File: {nul}: contains a NUL character or invalid Unicode"
        )
    try:
        return AgentFileDoc.model_validate(data)
    except ValidationError as exc:
        where, message = _first_error(exc.errors())
        raise InvalidInput(f"invalid Agent File: {where}: {message}") from None
