"""Memory blocks as the runtime reads and writes them: each agent's blocks in order, the
current values (locked when a memory tool writes), version checks, bulk updates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.agents import BlockView
from agentbatch.domain.text import storable
from agentbatch.store.bulk import Op, update_ops
from agentbatch.store.in_list import in_ids
from agentbatch.store.tables import agent_blocks, blocks

_CHUNK = 2000
_VIEW_COLUMNS = (  # BlockView's field order
    blocks.c.id,
    blocks.c.label,
    blocks.c.value,
    blocks.c.limit,
    blocks.c.description,
    blocks.c.read_only,
    blocks.c.version,
)

VERSIONS_CHECK_SQLITE = (
    "SELECT count(*) FROM blocks WHERE (id, version) "
    "IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))"
)


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


async def agent_block_ids(conn: AsyncConnection, agent_ids: Iterable[str]) -> dict[str, list[str]]:
    """Each agent's block ids, in its block order."""
    out: dict[str, list[str]] = {}
    for chunk in _chunks(agent_ids):
        rows = await conn.execute(
            select(agent_blocks.c.agent_id, agent_blocks.c.block_id)
            .where(in_ids(agent_blocks.c.agent_id, chunk, conn.dialect.name))
            .order_by(agent_blocks.c.agent_id, agent_blocks.c.position)
        )
        for row in rows:
            out.setdefault(row.agent_id, []).append(row.block_id)
    return out


async def load_views(
    conn: AsyncConnection, block_ids: Iterable[str], *, lock: bool = False
) -> dict[str, BlockView]:
    """Current block values (locked in id order when asked)."""
    out: dict[str, BlockView] = {}
    for chunk in _chunks(block_ids):
        query = (
            select(*_VIEW_COLUMNS)
            .where(in_ids(blocks.c.id, chunk, conn.dialect.name))
            .order_by(blocks.c.id)
        )
        if lock:
            query = query.with_for_update()
        for row in await conn.execute(query):
            out[row.id] = BlockView(*row)
    return out


async def versions(
    conn: AsyncConnection, block_ids: Iterable[str], *, lock: bool
) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in _chunks(block_ids):
        query = (
            select(blocks.c.id, blocks.c.version)
            .where(in_ids(blocks.c.id, chunk, conn.dialect.name))
            .order_by(blocks.c.id)
        )
        if lock:
            query = query.with_for_update()
        out.update((r.id, r.version) for r in await conn.execute(query))
    return out


def write_ops(changed: Sequence[BlockView], now: Any, dialect: str) -> list[Op]:
    rows = [
        {"b_id": b.id, "value": storable(b.value), "version": b.version, "updated_at": now}
        for b in changed
    ]
    return update_ops(blocks, rows, dialect)
