"""Settle what will never get a provider result: runs that cannot be prepared, items of a
batch that could not be created or whose result never came. Items go through the same apply
path as provider errors, so they are retried (or fail their run) exactly once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from agentbatch.domain.model_io import ItemResult, Outcome
from agentbatch.domain.statuses import RUN_ACTIVE, BatchStatus, RunStatus
from agentbatch.runtime.apply import ApplyStats, apply_results
from agentbatch.runtime.context import RuntimeContext
from agentbatch.store import runtime_repo as rr
from agentbatch.store.tables import runs


async def fail_runs(ctx: RuntimeContext, run_ids: list[str], error: str) -> None:
    now = ctx.clock()

    async def txn(conn: Any) -> None:
        await conn.execute(
            update(runs)
            .where(runs.c.id.in_(run_ids), runs.c.status.in_([s.value for s in RUN_ACTIVE]))
            .values(
                status=RunStatus.FAILED.value,
                last_error=error,
                stop_reason="error",
                finished_at=now,
                updated_at=now,
                lease_owner=None,
                lease_expires=None,
            )
        )

    await ctx.db.transact(txn)


async def settle_unanswered(
    ctx: RuntimeContext, batch_id: str, error: str, outcome: Outcome = Outcome.ERRORED
) -> ApplyStats:
    """Every unapplied item of the batch gets ``outcome`` with ``error``, in chunks."""
    stats = ApplyStats()
    while True:
        async with ctx.db.read() as conn:
            ids = await rr.unsettled_items_of_batch(conn, batch_id, ctx.settings.chunk_size)
        if not ids:
            return stats
        chunk = await apply_results(ctx, [ItemResult(i, outcome, error=error) for i in ids])
        stats.add(chunk)
        if chunk.applied + chunk.ignored == 0:
            return stats  # another worker holds them; it will settle them


async def settle_batch_items(
    ctx: RuntimeContext, batch_id: str, error: str, status: BatchStatus
) -> ApplyStats:
    async def mark(conn: Any) -> None:
        await rr.update_batch(
            conn,
            batch_id,
            status=status.value,
            error=error,
            ended_at=ctx.clock(),
            lease_owner=None,
            lease_expires=None,
        )

    await ctx.db.transact(mark)
    return await settle_unanswered(ctx, batch_id, error)
