"""Agent File import and export: the bulk writes and the whole-history reads they need.
Agents, blocks and the tools lookup themselves live in ``agents_repo``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.store.tables import agent_blocks, agents, messages, tools

_CHUNK = 2000


async def insert_tools(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(tools), list(rows))


async def insert_agents(
    conn: AsyncConnection,
    agent_values: Sequence[dict[str, Any]],
    attachments: Sequence[dict[str, Any]],
) -> None:
    """Agents and their block attachments (agent_id, block_id, position), in bulk."""
    for start in range(0, len(agent_values), _CHUNK):
        await conn.execute(insert(agents), list(agent_values[start : start + _CHUNK]))
    for start in range(0, len(attachments), _CHUNK):
        await conn.execute(insert(agent_blocks), list(attachments[start : start + _CHUNK]))


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


async def history_rows(conn: AsyncConnection, agent_ids: Sequence[str]) -> dict[str, list[Any]]:
    """Every message of these agents, each agent's in history order."""
    out: dict[str, list[Any]] = {}
    for start in range(0, len(agent_ids), 500):
        chunk = list(agent_ids[start : start + 500])
        rows = await conn.execute(
            select(messages.c.agent_id, *_HISTORY)
            .where(messages.c.agent_id.in_(chunk))
            .order_by(messages.c.agent_id, messages.c.id)
        )
        for row in rows:
            out.setdefault(row.agent_id, []).append(row)
    return out
