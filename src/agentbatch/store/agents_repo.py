"""Agents, blocks and custom tools: plain reads and writes, always scoped to an org."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.agents import AgentSpec
from agentbatch.domain.rules import parse_rule
from agentbatch.store import block_history, passages
from agentbatch.store.tables import agent_blocks, agents, blocks, tools


async def context_counters(conn: AsyncConnection, agent_id: str) -> dict[str, Any]:
    """Summary steps, evictions and the largest request (tokens) over the agent's runs."""
    from sqlalchemy import func

    from agentbatch.store.tables import runs

    row = (
        await conn.execute(
            select(
                func.coalesce(func.sum(runs.c.summary_steps), 0),
                func.coalesce(func.sum(runs.c.evicted_messages), 0),
                func.max(runs.c.context_tokens),
            ).where(runs.c.agent_id == agent_id)
        )
    ).one()
    return {"summary_steps": int(row[0]), "evicted": int(row[1]), "peak_tokens": row[2]}


def agent_spec(row: Any) -> AgentSpec:
    return AgentSpec(
        id=row.id,
        name=row.name,
        system=row.system,
        model=row.model,
        tool_names=tuple(row.tool_names or ()),
        rules=tuple(parse_rule(r) for r in row.tool_rules or ()),
        model_settings=dict(row.model_settings or {}),
        message_buffer_autoclear=bool(row.message_buffer_autoclear),
        archive=getattr(row, "archive", None),
    )


async def insert_agent(
    conn: AsyncConnection, values: dict[str, Any], block_ids: Sequence[str]
) -> None:
    await conn.execute(insert(agents).values(**values))
    if block_ids:
        await conn.execute(
            insert(agent_blocks),
            [
                {"agent_id": values["id"], "block_id": b, "position": i}
                for i, b in enumerate(block_ids)
            ],
        )


async def insert_blocks(
    conn: AsyncConnection, rows: list[dict[str, Any]], source: str = "create"
) -> None:
    """New blocks and their first history rows."""
    if rows:
        await conn.execute(insert(blocks), rows)
        await block_history.record(
            conn, [block_history.row(r, source, r["created_at"]) for r in rows]
        )


async def get_agent_row(conn: AsyncConnection, org_id: str, agent_id: str) -> Any:
    result = await conn.execute(
        select(agents).where(agents.c.id == agent_id, agents.c.org_id == org_id)
    )
    return result.first()


async def list_agent_rows(
    conn: AsyncConnection,
    org_id: str,
    *,
    limit: int,
    after: str | None = None,
    name: str | None = None,
    tags: Sequence[str] = (),
) -> list[Any]:
    """Agents in id order; with ``tags``, only those carrying every one of them."""
    from agentbatch.store.selection import tag_conditions

    query = select(agents).where(agents.c.org_id == org_id).order_by(agents.c.id).limit(limit)
    for condition in tag_conditions(conn.dialect.name, tags):
        query = query.where(condition)
    if after:
        query = query.where(agents.c.id > after)
    if name is not None:
        query = query.where(agents.c.name == name)
    return list((await conn.execute(query)).all())


async def count_agent_rows(
    conn: AsyncConnection,
    org_id: str,
    *,
    after: str | None = None,
    name: str | None = None,
    tags: Sequence[str] = (),
) -> int:
    from agentbatch.store.selection import tag_conditions

    query = select(func.count()).select_from(agents).where(agents.c.org_id == org_id)
    for condition in tag_conditions(conn.dialect.name, tags):
        query = query.where(condition)
    if after:
        query = query.where(agents.c.id > after)
    if name is not None:
        query = query.where(agents.c.name == name)
    return int((await conn.execute(query)).scalar_one())


async def count_block_rows(
    conn: AsyncConnection, org_id: str, *, label: str | None, after: str | None
) -> int:
    query = select(func.count()).select_from(blocks).where(blocks.c.org_id == org_id)
    if label:
        query = query.where(blocks.c.label == label)
    if after:
        query = query.where(blocks.c.id > after)
    return int((await conn.execute(query)).scalar_one())


async def delete_agent_row(conn: AsyncConnection, org_id: str, agent_id: str) -> bool:
    from agentbatch.store.tables import batch_items, messages, runs

    run_ids = select(runs.c.id).where(runs.c.agent_id == agent_id).scalar_subquery()
    await conn.execute(delete(batch_items).where(batch_items.c.run_id.in_(run_ids)))
    await conn.execute(delete(runs).where(runs.c.agent_id == agent_id))
    await conn.execute(delete(messages).where(messages.c.agent_id == agent_id))
    await passages.delete_archive(conn, org_id, passages.own_archive(agent_id))
    await conn.execute(delete(agent_blocks).where(agent_blocks.c.agent_id == agent_id))
    result = await conn.execute(
        delete(agents).where(agents.c.id == agent_id, agents.c.org_id == org_id)
    )
    return bool(result.rowcount)


async def agent_models(conn: AsyncConnection, org_id: str, ids: Iterable[str]) -> dict[str, str]:
    """agent id -> model handle, for the ids that exist in this org."""
    found: dict[str, str] = {}
    id_list = list(ids)
    for start in range(0, len(id_list), 5000):
        chunk = id_list[start : start + 5000]
        rows = await conn.execute(
            select(agents.c.id, agents.c.model).where(
                agents.c.org_id == org_id, agents.c.id.in_(chunk)
            )
        )
        found.update((r.id, r.model) for r in rows)
    return found


async def blocks_for_agents(
    conn: AsyncConnection, agent_ids: Sequence[str]
) -> list[tuple[str, Any]]:
    """(agent_id, block row) in each agent's block order."""
    rows = await conn.execute(
        select(agent_blocks.c.agent_id, blocks)
        .join(blocks, blocks.c.id == agent_blocks.c.block_id)
        .where(agent_blocks.c.agent_id.in_(list(agent_ids)))
        .order_by(agent_blocks.c.agent_id, agent_blocks.c.position)
    )
    return [(r.agent_id, r) for r in rows]


async def get_block_rows(conn: AsyncConnection, org_id: str, ids: Sequence[str]) -> list[Any]:
    rows = await conn.execute(
        select(blocks).where(blocks.c.org_id == org_id, blocks.c.id.in_(list(ids)))
    )
    return list(rows.all())


async def list_block_rows(
    conn: AsyncConnection, org_id: str, *, label: str | None, limit: int, after: str | None
) -> list[Any]:
    query = select(blocks).where(blocks.c.org_id == org_id).order_by(blocks.c.id).limit(limit)
    if label:
        query = query.where(blocks.c.label == label)
    if after:
        query = query.where(blocks.c.id > after)
    return list((await conn.execute(query)).all())


async def update_block_row(
    conn: AsyncConnection, org_id: str, block_id: str, values: dict[str, Any], now: datetime
) -> None:
    """An edit through the API: the block's next version, and its history row."""
    result = await conn.execute(
        update(blocks)
        .where(blocks.c.id == block_id, blocks.c.org_id == org_id)
        .values(**values, version=blocks.c.version + 1, updated_at=now)
        .returning(blocks.c.id, blocks.c.org_id, blocks.c.version, blocks.c.value)
    )
    changed = result.first()
    if changed is not None:
        await block_history.record(conn, [block_history.row(changed, "api", now)])


async def block_attachment_count(conn: AsyncConnection, block_id: str) -> int:
    result = await conn.execute(
        select(func.count()).select_from(agent_blocks).where(agent_blocks.c.block_id == block_id)
    )
    return int(result.scalar_one())


async def delete_block_row(conn: AsyncConnection, org_id: str, block_id: str) -> bool:
    result = await conn.execute(
        delete(blocks).where(blocks.c.id == block_id, blocks.c.org_id == org_id)
    )
    if result.rowcount:
        await block_history.delete_for_block(conn, block_id)
    return bool(result.rowcount)


async def tool_rows(
    conn: AsyncConnection, org_id: str, names: Iterable[str] | None = None
) -> list[Any]:
    query = select(tools).where(tools.c.org_id == org_id).order_by(tools.c.name)
    if names is not None:
        query = query.where(tools.c.name.in_(list(names)))
    return list((await conn.execute(query)).all())
