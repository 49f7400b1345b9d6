"""Letta message histories into rows of our messages table.

Letta keeps the compiled system prompt as the first in-context message; we render it from
memory on every request, so it is skipped here (``history_export`` writes it back). A Letta
tool message may answer several parallel tool calls (``tool_returns``); we store one row
per result. Text is kept verbatim (Letta's JSON-packed user, heartbeat and tool-result
texts included), so the model sees after the move what it saw before."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from agentbatch.errors import InvalidInput
from agentbatch.interop.letta import schema as s

Note = Callable[[str], None]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _texts(content: Any, kinds: tuple[str, ...] = ("text",)) -> tuple[list[str], list[Any]]:
    """(text of the parts of these kinds, the other parts)."""
    if content is None:
        return [], []
    if isinstance(content, str):
        return [content], []
    texts: list[str] = []
    rest: list[Any] = []
    for part in content:
        if part.type in kinds and isinstance(getattr(part, "text", None), str):
            texts.append(part.text)
        else:
            rest.append(part)
    return texts, rest


def ordered(agent: s.AgentFile, where: str) -> list[tuple[s.MessageFile, bool]]:
    """The agent's messages in history order, each with its in-context flag: messages out
    of the context window first (by created_at), then the window in its declared order."""
    by_id: dict[str, s.MessageFile] = {}
    for i, msg in enumerate(agent.messages):
        if msg.id in by_id:
            raise InvalidInput(f"{where}.messages[{i}].id: duplicate message id {msg.id!r}")
        by_id[msg.id] = msg
    window: list[s.MessageFile] = []
    for i, mid in enumerate(agent.in_context_message_ids):
        if mid not in by_id:
            raise InvalidInput(
                f"{where}.in_context_message_ids[{i}]: no message with id {mid!r} in the file"
            )
        window.append(by_id[mid])
    in_ids = set(agent.in_context_message_ids)
    rest = [m for m in agent.messages if m.id not in in_ids]
    rest.sort(key=lambda m: _utc(m.created_at) or _EPOCH)
    return [(m, False) for m in rest] + [(m, True) for m in window]


def import_history(agent: s.AgentFile, where: str, note: Note) -> list[dict[str, Any]]:
    """Rows for our messages table (without ids and org/agent columns)."""
    rows: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    dropped_parts = 0
    first_in_context = agent.in_context_message_ids[0] if agent.in_context_message_ids else None
    call_names: dict[str, str] = {}
    for msg, in_context in ordered(agent, where):
        base = {"in_context": in_context, "created_at": _utc(msg.created_at)}
        texts, rest = _texts(msg.content)
        if msg.role == "system":
            if msg.id == first_in_context:
                continue  # the compiled system prompt: rendered from memory here
            if not in_context:
                skipped["earlier compiled system prompt(s)"] = (
                    skipped.get("earlier compiled system prompt(s)", 0) + 1
                )
                continue
            rows.append({**base, "role": "user", "kind": "system", "content": "\n".join(texts)})
        elif msg.role in ("user", "summary"):
            dropped_parts += len(rest)
            if not texts:
                skipped["user message(s) without text"] = (
                    skipped.get("user message(s) without text", 0) + 1
                )
                continue
            text = "\n".join(texts)
            kind = "summary" if msg.role == "summary" else _user_kind(text)
            rows.append({**base, "role": "user", "kind": kind, "content": text})
        elif msg.role == "assistant":
            row, lost = _assistant(msg, base, texts, rest)
            dropped_parts += lost
            for call in row["tool_calls"] or ():
                call_names[call["id"]] = call["name"]
            if row["content"] is None and not row["tool_calls"] and row["reasoning"] is None:
                skipped["empty assistant message(s)"] = (
                    skipped.get("empty assistant message(s)", 0) + 1
                )
                continue
            rows.append(row)
        elif msg.role in ("tool", "function"):
            rows.extend(_tool_rows(msg, base, call_names))
        else:  # approval
            skipped["approval message(s) (human in the loop)"] = (
                skipped.get("approval message(s) (human in the loop)", 0) + 1
            )
    for what, n in skipped.items():
        note(f"{n} {what} not imported")
    if dropped_parts:
        note(f"{dropped_parts} message part(s) (images, redacted or omitted reasoning) dropped")
    _check_pairs(rows, note)
    return rows


def _user_kind(text: str) -> str:
    if text.startswith("{") and '"heartbeat"' in text:
        try:
            if json.loads(text).get("type") == "heartbeat":
                return "heartbeat"
        except (ValueError, AttributeError):
            pass
    return "input"


def _assistant(
    msg: s.MessageFile, base: dict[str, Any], texts: list[str], rest: list[Any]
) -> tuple[dict[str, Any], int]:
    reasoning: list[str] = []
    signature: str | None = None
    calls: list[dict[str, Any]] = []
    lost = 0
    for part in rest:
        if isinstance(part, s.ReasoningPart):
            reasoning.append(part.reasoning)
            signature = part.signature or signature
        elif isinstance(part, s.ToolCallPart):
            calls.append({"id": part.id, "name": part.name, "arguments": json.dumps(part.input)})
        else:
            lost += 1
    for call in msg.tool_calls or ():
        if all(c["id"] != call.id for c in calls):
            calls.append(
                {"id": call.id, "name": call.function.name, "arguments": call.function.arguments}
            )
    row = {
        **base,
        "role": "assistant",
        "kind": "assistant",
        "content": "\n".join(texts) if texts else None,
        "reasoning": "\n".join(reasoning) if reasoning else None,
        "reasoning_signature": signature,
        "tool_calls": calls or None,
    }
    return row, lost


def _tool_rows(
    msg: s.MessageFile, base: dict[str, Any], call_names: dict[str, str]
) -> list[dict[str, Any]]:
    texts, rest = _texts(msg.content)
    returns: list[tuple[str | None, str, bool]] = []
    if msg.tool_returns:
        for i, ret in enumerate(msg.tool_returns):
            if isinstance(ret.func_response, str):
                text = ret.func_response
            elif ret.func_response is not None:
                text = "\n".join(_texts(ret.func_response)[0])
            else:
                text = texts[i] if i < len(texts) else ""
            call_id = ret.tool_call_id or (msg.tool_call_id if i == 0 else None)
            returns.append((call_id, text, ret.status == "error"))
    else:
        parts = [p for p in rest if isinstance(p, s.ToolReturnPart)]
        for part in parts:
            returns.append((part.tool_call_id, part.content, part.is_error))
        if not parts:
            text = "\n".join(texts)
            returns.append((msg.tool_call_id, text, _failed(text)))
    out = []
    for call_id, text, is_error in returns:
        name = call_names.get(call_id or "") or msg.name
        out.append(
            {
                **base,
                "role": "tool",
                "kind": "tool",
                "content": text,
                "tool_call_id": call_id,
                "name": name[:64] if name else None,
                "is_error": is_error,
            }
        )
    return out


def _failed(text: str) -> bool:
    try:
        return bool(json.loads(text).get("status") == "Failed")
    except (ValueError, AttributeError):
        return False


def _check_pairs(rows: Sequence[dict[str, Any]], note: Note) -> None:
    calls = [c["id"] for r in rows if r["in_context"] for c in r.get("tool_calls") or ()]
    results = {r.get("tool_call_id") for r in rows if r["in_context"] and r["role"] == "tool"}
    missing = [c for c in calls if c not in results]
    if missing:
        note(
            f"{len(missing)} in-context tool call(s) have no result in the context window "
            f"(first: {missing[0]}); a provider may reject the next request"
        )
