"""Agent File import and export: the bulk writes and the whole-history reads they need.
Agents, blocks and the tools lookup themselves live in ``agents_repo``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.store.tables import agents, messages, tools

_CHUNK = 2000


async def insert_tools(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(tools), list(rows))


async def insert_messages(conn: AsyncConnection, rows: Iterable[dict[str, Any]]) -> int:
    """Insert in order (ids grow in history order); returns how many."""
    batch: list[dict[str, Any]] = []
    n = 0
    for row in rows:
        batch.append(row)
        if len(batch) >= _CHUNK:
            await conn.execute(insert(messages), batch)
            n += len(batch)
            batch = []
    if batch:
        await conn.execute(insert(messages), batch)
        n += len(batch)
    return n


async def agent_rows(conn: AsyncConnection, org_id: str, ids: Sequence[str]) -> list[Any]:
    """The agents of this org among ``ids``, in the order of ``ids``."""
    found: dict[str, Any] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        rows = await conn.execute(
            select(agents).where(agents.c.org_id == org_id, agents.c.id.in_(chunk))
        )
        found.update((r.id, r) for r in rows)
    return [found[i] for i in ids if i in found]


_HISTORY = (
    messages.c.id,
    messages.c.role,
    messages.c.kind,
    messages.c.content,
    messages.c.reasoning,
    messages.c.reasoning_signature,
    messages.c.tool_calls,
    messages.c.tool_call_id,
    messages.c.name,
    messages.c.is_error,
    messages.c.in_context,
    messages.c.created_at,
)


async def history_rows(conn: AsyncConnection, agent_id: str) -> list[Any]:
    """Every message of one agent, in history order."""
    rows = await conn.execute(
        select(*_HISTORY).where(messages.c.agent_id == agent_id).order_by(messages.c.id)
    )
    return list(rows.all())
