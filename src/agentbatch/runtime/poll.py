"""Poll in-flight provider batches; when one ends, stream its results into apply in chunks.

The batch is marked ``ingested`` only after every item was applied (a failed fetch leaves
it in progress, to be read again). The lease is renewed per chunk; if this worker dies,
another re-reads the results and already-applied items are skipped."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from agentbatch.domain.model_io import ItemResult, Outcome
from agentbatch.domain.statuses import BatchStatus
from agentbatch.errors import ProviderError, UnknownBatch
from agentbatch.runtime.apply import (
    ApplyStats,
    PlannedApply,
    commit_plan,
    compute_plan,
    snapshot_results,
)
from agentbatch.runtime.context import RuntimeContext, poll_delay
from agentbatch.runtime.retry import with_retries
from agentbatch.runtime.settle import settle_unanswered
from agentbatch.store import runtime_repo as rr

log = logging.getLogger(__name__)


async def poll_pass(ctx: RuntimeContext, limit: int = 20) -> int:
    now = ctx.clock()

    async def claim(conn: Any) -> list[Any]:
        return await rr.claim_due_batches(
            conn,
            owner=ctx.owner,
            now=now,
            until=ctx.lease_until(now),
            limit=limit,
            skip_locked=ctx.skip_locked,
        )

    batches = await ctx.db.transact(claim)
    for batch in batches:
        with ctx.metrics.phase("poll+ingest+apply", ctx.db):
            await poll_batch(ctx, batch)
    return len(batches)


async def poll_batch(ctx: RuntimeContext, batch: Any) -> None:
    provider = ctx.registry.get(batch.provider)
    try:
        result = await with_retries(
            lambda: provider.poll(batch.external_id),
            what=f"poll {batch.external_id}",
            retries=ctx.settings.provider_retries,
            base=ctx.settings.provider_backoff_s,
            sleep=ctx.sleep,
            rng=ctx.rng,
        )
    except UnknownBatch:
        log.warning(
            "provider does not know batch %s; its items count as expired", batch.external_id
        )
        await settle_unanswered(
            ctx, batch.id, "the provider no longer knows this batch", Outcome.EXPIRED
        )
        await _mark_ingested(ctx, batch.id, "unknown to the provider")
        return
    except ProviderError as exc:
        log.warning("poll of %s failed: %s", batch.external_id, exc)
        await _reschedule(ctx, batch, str(exc), provider)
        return
    if not result.ended:
        await _reschedule(ctx, batch, None, provider, result.status)
        return
    try:
        await ingest(ctx, batch, provider)
    except ProviderError as exc:
        log.warning("reading results of %s failed: %s; will read again", batch.external_id, exc)
        await _reschedule(ctx, batch, f"results: {exc}", provider)


async def _reschedule(
    ctx: RuntimeContext, batch: Any, error: str | None, provider: Any, status: str | None = None
) -> None:
    now = ctx.clock()
    base = poll_delay(ctx, provider)
    delay = min(ctx.settings.poll_max_interval_s, base * (1.5 ** min(batch.poll_count, 20)))
    delay *= 0.8 + 0.4 * ctx.rng.random()

    async def txn(conn: Any) -> None:
        await rr.update_batch(
            conn,
            batch.id,
            poll_count=batch.poll_count + 1,
            polled_at=now,
            next_poll_at=now + timedelta(seconds=delay),
            error=error,
            provider_status=status,
            lease_owner=None,
            lease_expires=None,
        )

    await ctx.db.transact(txn)


async def ingest(ctx: RuntimeContext, batch: Any, provider: Any) -> ApplyStats:
    """Stream results in chunks through a three-stage pipeline: while chunk N is resolved
    (Python, on the event loop), chunk N+1's snapshot is read and chunk N-1 commits (SQL, in
    the driver's threads). Commits stay strictly in order; a commit whose snapshot went
    stale recomputes under the write lock."""
    stats = ApplyStats()
    committing: asyncio.Task[ApplyStats] | None = None
    reading: asyncio.Task[PlannedApply] | None = None

    async def advance(next_chunk: list[ItemResult] | None) -> None:
        nonlocal committing, reading
        ready = reading
        reading = asyncio.create_task(snapshot_results(ctx, next_chunk)) if next_chunk else None
        if ready is None:
            return
        planned = await compute_plan(ctx, await ready)
        if committing is not None:
            stats.add(await committing)
        committing = asyncio.create_task(_commit_chunk(ctx, batch, planned))

    try:
        chunk: list[ItemResult] = []
        async for item in provider.results(batch.external_id):
            chunk.append(item)
            if len(chunk) >= ctx.settings.chunk_size:
                await advance(chunk)
                chunk = []
        await advance(chunk or None)
        await advance(None)
    finally:
        for task in (reading, committing):
            if task is not None:
                result = await task
                if isinstance(result, ApplyStats):
                    stats.add(result)
    stats.add(
        await settle_unanswered(ctx, batch.id, "the provider returned no result for this item")
    )
    await _mark_ingested(ctx, batch.id, None)
    try:
        await provider.cleanup(batch.external_id)
    except ProviderError as exc:
        log.info("cleanup of %s failed: %s", batch.external_id, exc)
    log.info("ingested %s: %s", batch.external_id, stats)
    return stats


async def _commit_chunk(ctx: RuntimeContext, batch: Any, planned: PlannedApply) -> ApplyStats:
    stats = await commit_plan(ctx, planned)

    async def renew(conn: Any) -> None:
        await rr.renew_batch_lease(conn, batch.id, ctx.owner, ctx.lease_until())

    await ctx.db.transact(renew)
    return stats


async def _mark_ingested(ctx: RuntimeContext, batch_id: str, error: str | None) -> None:
    now = ctx.clock()

    async def txn(conn: Any) -> None:
        await rr.update_batch(
            conn,
            batch_id,
            status=BatchStatus.INGESTED.value,
            ended_at=now,
            polled_at=now,
            error=error,
            lease_owner=None,
            lease_expires=None,
        )

    await ctx.db.transact(txn)
