"""Validation errors as sentences: ``model: model handle must look like 'provider/model'``
rather than ``model: Value error, ...``; unknown fields get a "did you mean" (including
the names Letta's API uses for the same things); invalid choices list the valid ones."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# field names of Letta's agent and batch APIs -> what agentbatch calls them
LETTA_NAMES = {
    "llm_config": "model (a handle such as anthropic/claude-sonnet-4-5) and model_settings",
    "llm": "model",
    "model_endpoint": "model",
    "embedding_config": "nothing (agentbatch needs no embedding settings here)",
    "embedding": "nothing (agentbatch needs no embedding settings here)",
    "memory_blocks": "blocks",
    "memory": "blocks",
    "block_labels": "blocks",
    "tool_ids": "tools (tool names)",
    "tool_names": "tools",
    "include_base_tools": "tools (list send_message and the memory tools you want)",
    "system_prompt": "system",
    "instructions": "system",
    "max_tokens": "model_settings.max_tokens",
    "temperature": "model_settings.temperature",
    "context_window_limit": "model_settings",
    "agent_type": "nothing (every agent runs the same loop)",
    "description": "metadata",
    "batch_requests": "requests",
    "max_iterations": "max_steps",
}


def _where(loc: Sequence[Any], skip_body: bool) -> str:
    parts = [str(p) for p in loc]
    if skip_body and parts and parts[0] == "body":
        parts = parts[1:]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "request"


def suggestion(name: str, allowed: Iterable[str]) -> str:
    """`` (did you mean 'blocks'?)`` or ``""``."""
    if name in LETTA_NAMES:
        return f" (agentbatch calls this {LETTA_NAMES[name]})"
    close = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe(
    err: Mapping[str, Any],
    allowed: Iterable[str] = (),
    *,
    skip_body: bool = False,
    list_known: bool = True,
) -> str:
    """One error as a sentence; ``allowed``: the top-level fields of the input model."""
    loc = tuple(err.get("loc") or ())
    where = _where(loc, skip_body)
    kind = str(err.get("type", ""))
    msg = str(err.get("msg", ""))
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else where
        top_level = len(loc) - (1 if skip_body and loc and loc[0] == "body" else 0) == 1
        names = sorted(allowed) if top_level else []
        known = f"; known fields: {', '.join(names)}" if names and list_known else ""
        at = "" if top_level else f" in {where.rsplit('.', 1)[0]}"
        return f"unknown field {name!r}{at}{suggestion(name, names)}{known}"
    if kind == "missing":
        return f"{where} is required"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, ") :]
    if msg.startswith(f"{where}.") or msg.startswith(f"{where}: "):
        return msg  # the message names the field already (model_settings.max_tokens ...)
    return f"{where}: {msg}"


def describe_all(
    errors: Sequence[Mapping[str, Any]],
    allowed: Iterable[str] = (),
    *,
    skip_body: bool = False,
    list_known: bool = True,
    limit: int = 5,
) -> str:
    names = list(allowed)
    parts = [describe(e, names, skip_body=skip_body, list_known=list_known) for e in errors[:limit]]
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts) + more if parts else "invalid input"
