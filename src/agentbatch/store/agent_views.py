"""Reads for the dashboard's agent page: the agent, its runs, its transcript (keyset by
message id), the size of its context window and its last request's usage."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.store.tables import agents, batch_items, messages, runs


async def agent_row(conn: AsyncConnection, org_id: str, agent_id: str) -> Any:
    query = select(agents).where(agents.c.id == agent_id, agents.c.org_id == org_id)
    return (await conn.execute(query)).first()


async def agent_page(
    conn: AsyncConnection, org_id: str, *, after: str | None, limit: int
) -> list[Any]:
    query = (
        select(agents.c.id, agents.c.name, agents.c.model, agents.c.created_at, agents.c.tags)
        .where(agents.c.org_id == org_id)
        .order_by(agents.c.id)
        .limit(limit)
    )
    if after:
        query = query.where(agents.c.id > after)
    return list((await conn.execute(query)).all())


async def agent_runs(conn: AsyncConnection, agent_id: str, limit: int = 20) -> list[Any]:
    rows = await conn.execute(
        select(runs)
        .where(runs.c.agent_id == agent_id)
        .order_by(runs.c.created_at.desc())
        .limit(limit)
    )
    return list(rows.all())


async def transcript(
    conn: AsyncConnection,
    agent_id: str,
    *,
    before: int | None,
    run_id: str | None,
    limit: int,
) -> list[Any]:
    """The agent's latest ``limit`` messages before ``before`` (oldest first)."""
    query = (
        select(messages)
        .where(messages.c.agent_id == agent_id)
        .order_by(messages.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(messages.c.id < before)
    if run_id:
        query = query.where(messages.c.run_id == run_id)
    return list(reversed((await conn.execute(query)).all()))


async def context_size(conn: AsyncConnection, agent_id: str) -> tuple[int, int]:
    """(messages, characters) of the agent's context window."""
    chars = (
        func.coalesce(func.length(messages.c.content), 0)
        + func.coalesce(func.length(messages.c.reasoning), 0)
        + func.coalesce(func.length(cast(messages.c.tool_calls, String)), 0)
    )
    row = (
        await conn.execute(
            select(func.count(), func.coalesce(func.sum(chars), 0)).where(
                messages.c.agent_id == agent_id, messages.c.in_context.is_(True)
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def last_result_usage(conn: AsyncConnection, run_id: str) -> Any:
    """The run's latest applied model answer (its usage is the last request's size)."""
    rows = await conn.execute(
        select(batch_items.c.result)
        .where(batch_items.c.run_id == run_id, batch_items.c.outcome == "succeeded")
        .order_by(batch_items.c.created_at.desc())
        .limit(1)
    )
    row = rows.first()
    return row.result if row is not None else None
