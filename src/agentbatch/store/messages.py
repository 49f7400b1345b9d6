"""Messages: history rows (inserted in bulk with the step that made them), the context
window (``in_context``), and search over an agent's history."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.messages import Message, ToolCall
from agentbatch.store.bulk import Op, insert_op
from agentbatch.store.in_list import in_ids
from agentbatch.store.tables import messages

_CHUNK = 2000
_CONTEXT_COLUMNS = (
    messages.c.agent_id,
    messages.c.role,
    messages.c.kind,
    messages.c.content,
    messages.c.reasoning,
    messages.c.reasoning_signature,
    messages.c.tool_calls,
    messages.c.tool_call_id,
    messages.c.name,
    messages.c.is_error,
)


def insert_ops(rows: Sequence[dict[str, Any]], dialect: str) -> list[Op]:
    return insert_op(messages, rows, dialect)


def message_from_row(row: Any) -> Message:
    return Message(
        role=row.role,
        content=row.content,
        reasoning=row.reasoning,
        reasoning_signature=row.reasoning_signature,
        tool_calls=tuple(ToolCall.from_dict(c) for c in row.tool_calls or ()),
        tool_call_id=row.tool_call_id,
        name=row.name,
        is_error=bool(row.is_error),
        kind=row.kind,
    )


async def load_context(conn: AsyncConnection, agent_ids: Iterable[str]) -> dict[str, list[Message]]:
    """Each agent's context window (in-context messages, oldest first)."""
    out: dict[str, list[Message]] = {}
    ids = sorted(set(agent_ids))
    for start in range(0, len(ids), _CHUNK):
        rows = await conn.execute(
            select(*_CONTEXT_COLUMNS)
            .where(
                in_ids(messages.c.agent_id, ids[start : start + _CHUNK], conn.dialect.name),
                messages.c.in_context.is_(True),
            )
            .order_by(messages.c.agent_id, messages.c.id)
        )
        for row in rows:
            out.setdefault(row.agent_id, []).append(message_from_row(row))
    return out


async def clear_context(conn: AsyncConnection, agent_ids: Sequence[str]) -> None:
    """message_buffer_autoclear: when a run ends, its agent's messages leave the window."""
    for start in range(0, len(agent_ids), _CHUNK):
        await conn.execute(
            update(messages)
            .where(
                messages.c.agent_id.in_(list(agent_ids[start : start + _CHUNK])),
                messages.c.in_context.is_(True),
            )
            .values(in_context=False)
        )


async def search(
    conn: AsyncConnection, agent_id: str, query: str, *, offset: int, limit: int
) -> list[Any]:
    """(id, role, content, created_at) of the agent's messages containing ``query``,
    newest first. ``%`` and ``_`` in the query match themselves."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = await conn.execute(
        select(messages.c.id, messages.c.role, messages.c.content, messages.c.created_at)
        .where(
            messages.c.agent_id == agent_id,
            messages.c.kind.in_(["input", "assistant", "tool"]),
            messages.c.content.ilike(f"%{escaped}%", escape="\\"),
        )
        .order_by(messages.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows.all())
