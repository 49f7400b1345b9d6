"""Our message rows as Letta messages: the compiled system prompt opens the context window,
consecutive tool results go back into one tool message (Letta's ``tool_returns`` form)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def export_history(
    rows: Sequence[Any],
    *,
    agent_file_id: str,
    system_text: str,
    system_at: datetime | None,
    new_id: Callable[[], str],
) -> tuple[list[dict[str, Any]], list[str]]:
    """Letta messages and in-context ids for an agent's rows (in history order)."""
    system = _message(new_id(), agent_file_id, "system", [_text(system_text)], system_at)
    messages = [system]
    in_context = [system["id"]]
    i = 0
    while i < len(rows):
        row = rows[i]
        if row.role == "tool":
            group = [row]
            while (
                i + 1 < len(rows)
                and rows[i + 1].role == "tool"
                and bool(rows[i + 1].in_context) == bool(row.in_context)
            ):
                i += 1
                group.append(rows[i])
            msg = _tool_message(new_id(), agent_file_id, group)
        elif row.role == "assistant":
            msg = _assistant_message(new_id(), agent_file_id, row)
        else:
            role = {"system": "system", "summary": "summary"}.get(row.kind, "user")
            msg = _message(
                new_id(), agent_file_id, role, [_text(row.content or "")], row.created_at
            )
        messages.append(msg)
        if row.in_context:
            in_context.append(msg["id"])
        i += 1
    return messages, in_context


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text, "signature": None}


def _message(
    mid: str, agent_id: str, role: str, content: list[dict[str, Any]], at: datetime | None
) -> dict[str, Any]:
    return {
        "type": "message",
        "id": mid,
        "role": role,
        "content": content,
        "name": None,
        "otid": None,
        "sender_id": None,
        "batch_item_id": None,
        "group_id": None,
        "model": None,
        "agent_id": agent_id,
        "tool_calls": None,
        "tool_call_id": None,
        "tool_returns": None,
        "created_at": _iso(at),
        "approve": None,
        "approval_request_id": None,
        "denial_reason": None,
        "approvals": None,
    }


def _iso(at: datetime | None) -> str | None:
    at = _utc(at)
    return at.isoformat() if at else None


def _assistant_message(mid: str, agent_id: str, row: Any) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if row.reasoning is not None:
        content.append(
            {
                "type": "reasoning",
                "is_native": True,
                "reasoning": row.reasoning,
                "signature": row.reasoning_signature,
            }
        )
    if row.content is not None:
        content.append(_text(row.content))
    msg = _message(mid, agent_id, "assistant", content, row.created_at)
    if row.tool_calls:
        msg["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in row.tool_calls
        ]
    return msg


def _tool_message(mid: str, agent_id: str, group: Sequence[Any]) -> dict[str, Any]:
    msg = _message(
        mid, agent_id, "tool", [_text(r.content or "") for r in group], group[0].created_at
    )
    msg["tool_call_id"] = group[0].tool_call_id
    msg["name"] = group[0].name
    msg["tool_calls"] = []
    msg["tool_returns"] = [
        {
            "tool_call_id": r.tool_call_id,
            "status": "error" if r.is_error else "success",
            "func_response": r.content,
            "stdout": None,
            "stderr": None,
        }
        for r in group
    ]
    return msg
