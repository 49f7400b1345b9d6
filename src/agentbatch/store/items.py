"""Batch items: inserted when a batch is recorded, settled (``applied``) exactly once.

An item is settled by the apply pass (its outcome and effects in one transaction, checked
to be still unapplied), by a job's cancel, or by recovery for items that will never get a
result. Results that arrive for a settled item are recorded as ignored, never applied."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.statuses import BatchStatus
from agentbatch.store.bulk import Op, insert_op, update_ops
from agentbatch.store.in_list import in_ids
from agentbatch.store.rows import ItemRef
from agentbatch.store.tables import batch_items, provider_batches

_CHUNK = 2000
_CLOSED = [BatchStatus.FAILED.value, BatchStatus.INGESTED.value, BatchStatus.CANCELED.value]

UNAPPLIED_CHECK_SQLITE = (
    "SELECT count(*) FROM batch_items WHERE applied = 0 AND id IN (SELECT value FROM json_each(?))"
)


def insert_ops(rows: Sequence[dict[str, Any]], dialect: str) -> list[Op]:
    return insert_op(batch_items, rows, dialect)


def settle_ops(rows: Sequence[dict[str, Any]], dialect: str) -> list[Op]:
    """Settle items (each row: ``b_id``, outcome, result, error, applied_at); the caller
    checked in the same transaction that every one was still unapplied."""
    return update_ops(batch_items, [{**r, "applied": True} for r in rows], dialect)


def result_ops(rows: Sequence[dict[str, Any]], dialect: str) -> list[Op]:
    """Store results without settling (a step that waits for its tools)."""
    return update_ops(batch_items, rows, dialect)


async def stored_results(conn: AsyncConnection, item_ids: Sequence[str]) -> list[Any]:
    """(id, outcome, result, error) of items whose result was stored."""
    out: list[Any] = []
    for start in range(0, len(item_ids), _CHUNK):
        rows = await conn.execute(
            select(
                batch_items.c.id, batch_items.c.outcome, batch_items.c.result, batch_items.c.error
            ).where(
                in_ids(batch_items.c.id, list(item_ids[start : start + _CHUNK]), conn.dialect.name)
            )
        )
        out.extend(rows.all())
    return out


async def unapplied(
    conn: AsyncConnection, item_ids: Sequence[str], *, lock: bool
) -> dict[str, ItemRef]:
    """The unapplied ones among ``item_ids`` (locked, skipping rows another worker holds,
    when asked)."""
    out: dict[str, ItemRef] = {}
    ids = sorted(item_ids)
    for start in range(0, len(ids), _CHUNK):
        query = select(
            batch_items.c.id,
            batch_items.c.run_id,
            batch_items.c.job_id,
            batch_items.c.kind,
            batch_items.c.context,
        ).where(
            in_ids(batch_items.c.id, ids[start : start + _CHUNK], conn.dialect.name),
            batch_items.c.applied.is_(False),
        )
        if lock:
            query = query.with_for_update(skip_locked=True)
        out.update((r.id, ItemRef(*r)) for r in await conn.execute(query))
    return out


async def unapplied_ids(conn: AsyncConnection, item_ids: Iterable[str]) -> set[str]:
    return set(await unapplied(conn, list(item_ids), lock=False))


async def unsettled_of_batch(conn: AsyncConnection, batch_id: str, limit: int) -> list[str]:
    """Items of the batch with no result at all (a stored result waiting for its step's
    tools is not unanswered)."""
    rows = await conn.execute(
        select(batch_items.c.id)
        .where(
            batch_items.c.provider_batch_id == batch_id,
            batch_items.c.applied.is_(False),
            batch_items.c.outcome.is_(None),
        )
        .order_by(batch_items.c.id)
        .limit(limit)
    )
    return [r.id for r in rows]


async def stranded_batches(conn: AsyncConnection, limit: int = 50) -> list[str]:
    """Provider batches no longer open that still hold items without any result."""
    rows = await conn.execute(
        select(batch_items.c.provider_batch_id)
        .join(provider_batches, provider_batches.c.id == batch_items.c.provider_batch_id)
        .where(
            batch_items.c.applied.is_(False),
            batch_items.c.outcome.is_(None),
            provider_batches.c.status.in_(_CLOSED),
        )
        .distinct()
        .limit(limit)
    )
    return [r.provider_batch_id for r in rows]


async def settle_for_job_cancel(conn: AsyncConnection, job_id: str, now: datetime) -> None:
    await conn.execute(
        update(batch_items)
        .where(batch_items.c.job_id == job_id, batch_items.c.applied.is_(False))
        .values(
            outcome=func.coalesce(batch_items.c.outcome, "canceled"),
            applied=True,
            applied_at=now,
            error=func.coalesce(batch_items.c.error, "job cancelled"),
        )
    )


async def record_ignored(
    conn: AsyncConnection, batch_id: str, rows: Sequence[dict[str, Any]]
) -> None:
    """What a settled batch returned after all (each row: ``b_id``, outcome, result,
    error): kept for the record and for billing; the items stay settled, never applied.
    Rows naming items of another batch, or unsettled ones, are skipped."""
    mine = await items_of(conn, batch_id, [r["b_id"] for r in rows])
    settled = mine - await unapplied_ids(conn, mine)
    for sql, params in update_ops(
        batch_items, [r for r in rows if r["b_id"] in settled], conn.dialect.name
    ):
        if params:
            await conn.exec_driver_sql(sql, params)


async def items_of(conn: AsyncConnection, batch_id: str, item_ids: Sequence[str]) -> set[str]:
    """Which of ``item_ids`` belong to this provider batch (results never cross batches)."""
    found: set[str] = set()
    for start in range(0, len(item_ids), _CHUNK):
        rows = await conn.execute(
            select(batch_items.c.id).where(
                in_ids(batch_items.c.id, list(item_ids[start : start + _CHUNK]), conn.dialect.name),
                batch_items.c.provider_batch_id == batch_id,
            )
        )
        found.update(r.id for r in rows)
    return found
