"""Writes that change an existing agent or tool. Each one bumps ``agents.updated_at``: the
runtime's agent cache re-reads an agent whose ``updated_at`` moved, so a change reaches the
agent's next request. Agent writes are guarded by the ``updated_at`` the caller read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.store.tables import agent_blocks, agents, tools


async def update_agent_row(
    conn: AsyncConnection,
    org_id: str,
    agent_id: str,
    expected_updated_at: datetime,
    values: dict[str, Any],
    now: datetime,
) -> bool:
    """Apply ``values`` and bump ``updated_at`` if nobody changed the agent since it was
    read; False when it moved on (or is gone)."""
    result = await conn.execute(
        update(agents)
        .where(
            agents.c.id == agent_id,
            agents.c.org_id == org_id,
            agents.c.updated_at == expected_updated_at,
        )
        .values(**values, updated_at=now)
    )
    return bool(result.rowcount)


async def attach_block_row(conn: AsyncConnection, agent_id: str, block_id: str) -> None:
    last = (
        await conn.execute(
            select(func.max(agent_blocks.c.position)).where(agent_blocks.c.agent_id == agent_id)
        )
    ).scalar_one()
    await conn.execute(
        insert(agent_blocks).values(
            agent_id=agent_id, block_id=block_id, position=(last if last is not None else -1) + 1
        )
    )


async def detach_block_row(conn: AsyncConnection, agent_id: str, block_id: str) -> bool:
    result = await conn.execute(
        delete(agent_blocks).where(
            agent_blocks.c.agent_id == agent_id, agent_blocks.c.block_id == block_id
        )
    )
    return bool(result.rowcount)


async def agents_with_block(conn: AsyncConnection, block_id: str, limit: int = 3) -> list[Any]:
    rows = await conn.execute(
        select(agents.c.id, agents.c.name)
        .join(agent_blocks, agent_blocks.c.agent_id == agents.c.id)
        .where(agent_blocks.c.block_id == block_id)
        .order_by(agents.c.id)
        .limit(limit)
    )
    return list(rows.all())


async def agents_using_tool(conn: AsyncConnection, org_id: str, name: str) -> list[Any]:
    rows = await conn.execute(
        select(agents.c.id, agents.c.name, agents.c.tool_names).where(agents.c.org_id == org_id)
    )
    return [r for r in rows if name in (r.tool_names or ())]


async def touch_agents(conn: AsyncConnection, agent_ids: list[str], now: datetime) -> None:
    for start in range(0, len(agent_ids), 5000):
        await conn.execute(
            update(agents)
            .where(agents.c.id.in_(agent_ids[start : start + 5000]))
            .values(updated_at=now)
        )


async def update_tool_row(
    conn: AsyncConnection, org_id: str, tool_id: str, values: dict[str, Any]
) -> bool:
    result = await conn.execute(
        update(tools).where(tools.c.id == tool_id, tools.c.org_id == org_id).values(**values)
    )
    return bool(result.rowcount)
