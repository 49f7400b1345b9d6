"""Block history: one row per value a memory block took (created, edited through the API,
written by a memory tool in an apply transaction). Written in the same transaction as the
edit itself; read newest first by the dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.store.bulk import Op, insert_op
from agentbatch.store.tables import block_history


def insert_ops(rows: Sequence[dict[str, Any]], dialect: str) -> list[Op]:
    """The apply pass's history rows, as one driver-level executemany."""
    return insert_op(block_history, rows, dialect)


def row(block: Any, source: str, now: datetime, *, agent_id: str | None = None) -> dict[str, Any]:
    """A history row for a block row (or dict) as it now stands."""
    get = block.get if isinstance(block, dict) else lambda k: getattr(block, k)
    return {
        "block_id": get("id"),
        "org_id": get("org_id"),
        "version": get("version"),
        "value": get("value"),
        "source": source,
        "agent_id": agent_id,
        "run_id": None,
        "step": None,
        "tool": None,
        "created_at": now,
    }


async def record(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 2000):
        await conn.execute(insert(block_history), list(rows[start : start + 2000]))


async def for_blocks(
    conn: AsyncConnection, org_id: str, block_ids: Sequence[str], *, per_block: int
) -> dict[str, list[Any]]:
    """Each block's latest ``per_block`` + 1 versions, newest first (the extra one is the
    base of the oldest edit shown)."""
    out: dict[str, list[Any]] = {}
    for block_id in block_ids:
        rows = await conn.execute(
            select(block_history)
            .where(block_history.c.block_id == block_id, block_history.c.org_id == org_id)
            .order_by(block_history.c.version.desc(), block_history.c.id.desc())
            .limit(per_block + 1)
        )
        out[block_id] = list(rows.all())
    return out


async def delete_for_block(conn: AsyncConnection, block_id: str) -> None:
    await conn.execute(delete(block_history).where(block_history.c.block_id == block_id))
