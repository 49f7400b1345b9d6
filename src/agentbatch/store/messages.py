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


def _evict_sql(dialect: str) -> tuple[str, str]:
    """Out of the window: the agent's summaries, then its ``n`` oldest other messages."""
    a, n = ("?", "?") if dialect == "sqlite" else ("$1", "$2")
    summaries = (
        "UPDATE messages SET in_context = false WHERE agent_id = "
        f"{a} AND in_context AND kind = 'summary'"
    )
    oldest = (
        "UPDATE messages SET in_context = false WHERE id IN (SELECT id FROM messages "
        f"WHERE agent_id = {a} AND in_context AND kind <> 'summary' ORDER BY id LIMIT {n})"
    )
    return summaries, oldest


def evict_ops(rows: Sequence[tuple[str, int]], dialect: str) -> list[Op]:
    """A summary step's eviction, for (agent id, count) pairs: runs before the new
    summary message is inserted, in the same transaction."""
    if not rows:
        return []
    summaries, oldest = _evict_sql(dialect)
    return [(summaries, [(a,) for a, _ in rows]), (oldest, [(a, n) for a, n in rows if n > 0])]


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


async def search_dates(
    conn: AsyncConnection, agent_id: str, start: Any, end: Any, *, offset: int, limit: int
) -> list[Any]:
    """(id, role, content, created_at) of the agent's messages from ``start`` (inclusive)
    to ``end`` (exclusive), oldest first."""
    rows = await conn.execute(
        select(messages.c.id, messages.c.role, messages.c.content, messages.c.created_at)
        .where(
            messages.c.agent_id == agent_id,
            messages.c.kind.in_(["input", "assistant", "tool"]),
            messages.c.created_at >= start,
            messages.c.created_at < end,
        )
        .order_by(messages.c.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows.all())


async def window_stats(conn: AsyncConnection, agent_id: str) -> dict[str, int]:
    """How many of the agent's messages are in its window, out of it, and summaries."""
    from sqlalchemy import case, func

    row = (
        await conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((messages.c.in_context.is_(True), 1), else_=0)), 0),
                func.coalesce(func.sum(case((messages.c.kind == "summary", 1), else_=0)), 0),
            ).where(messages.c.agent_id == agent_id)
        )
    ).one()
    total, in_context, summaries = (int(v) for v in row)
    return {
        "messages": total,
        "in_context": in_context,
        "out_of_context": total - in_context,
        "summaries": summaries,
    }
