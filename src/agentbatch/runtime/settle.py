"""Settle what will never get a provider result: items of a batch that could not be
created, was abandoned, or ended without answering them. They go through the same apply
path as provider errors, so each is retried (or fails its run) exactly once. Claimed runs
that cannot be sent at all fail here too, under their claim."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from agentbatch.domain.model_io import ItemResult, Outcome
from agentbatch.runtime.apply import ApplyStats, apply_results
from agentbatch.runtime.context import RuntimeContext
from agentbatch.store import items, runs
from agentbatch.store.rows import ClaimedRun


async def fail_claimed(
    ctx: RuntimeContext,
    claimed: Sequence[ClaimedRun],
    error: str,
    kind: str,
    stop_reason: str = "error",
) -> set[str]:
    """Claimed runs fail with ``error`` (only those still queued under this claim)."""
    now = ctx.clock()
    pairs = [(r.id, r.fence) for r in claimed]

    async def txn(conn: Any) -> set[str]:
        return await runs.fail_claimed(
            conn, ctx.owner, pairs, error=error, kind=kind, now=now, stop_reason=stop_reason
        )

    moved: set[str] = await ctx.db.transact(txn)
    ctx.observe.runs_failed(kind, len(moved))
    return moved


async def settle_unanswered(ctx: RuntimeContext, batch_id: str, template: ItemResult) -> ApplyStats:
    """Every item of the batch without a result gets ``template``'s outcome, in chunks."""
    stats = ApplyStats()
    while True:
        async with ctx.db.read() as conn:
            ids = await items.unsettled_of_batch(conn, batch_id, ctx.settings.chunk_size)
        if not ids:
            return stats
        chunk = await apply_results(ctx, [dataclasses.replace(template, custom_id=i) for i in ids])
        stats.add(chunk)
        if chunk.applied + chunk.ignored == 0:
            return stats  # another worker holds them; it will settle them


def unanswered(error: str, outcome: Outcome = Outcome.ERRORED) -> ItemResult:
    """The result an item gets when its provider never answered it."""
    return ItemResult("", outcome, error=error)
