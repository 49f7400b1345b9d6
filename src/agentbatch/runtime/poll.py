"""Poll in-flight provider batches; when one ends, stream its results into apply in chunks.

A batch is polled under a lease (its fence grows with each claim). It is marked
``ingested`` only after every item was applied (a failed fetch leaves it in progress, to
be read again), and only while this worker's lease holds: the lease is renewed with each
chunk, and a worker that finds it taken over (another worker, or the job's cancel) stops
reading. Already-applied items are skipped by the apply checks, so a re-read is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from agentbatch.domain.model_io import ItemResult, Outcome
from agentbatch.errors import ConfigError, ProviderError, UnknownBatch
from agentbatch.observability.logs import bind
from agentbatch.providers.base import BatchProvider
from agentbatch.runtime.apply import ApplyStats, Planned, commit_chunk, make_plan, read_chunk
from agentbatch.runtime.context import RuntimeContext, poll_delay
from agentbatch.runtime.retry import with_retries
from agentbatch.runtime.settle import settle_unanswered, unanswered
from agentbatch.store import batch_cleanup, provider_batches
from agentbatch.store.rows import LeasedBatch

log = logging.getLogger(__name__)


async def poll_pass(ctx: RuntimeContext, limit: int = 20) -> int:
    now = ctx.clock()

    async def claim(conn: Any) -> list[LeasedBatch]:
        return await provider_batches.claim_due(
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


async def poll_batch(ctx: RuntimeContext, batch: LeasedBatch) -> None:
    with bind(batch_id=batch.id, job_id=batch.job_id):
        await _poll_batch(ctx, batch)


async def _poll_batch(ctx: RuntimeContext, batch: LeasedBatch) -> None:
    assert batch.external_id is not None
    handle = batch.external_id
    try:
        provider = ctx.registry.get(batch.provider)
        result = await with_retries(
            lambda: provider.poll(handle),
            what=f"poll {handle}",
            retries=ctx.settings.provider_retries,
            base=ctx.settings.provider_backoff_s,
            sleep=ctx.sleep,
            rng=ctx.rng,
        )
    except UnknownBatch:
        log.warning("provider does not know batch %s; its items count as expired", handle)
        template = unanswered("the provider no longer knows this batch", Outcome.EXPIRED)
        await settle_unanswered(ctx, batch.id, template)
        await _mark_ingested(ctx, batch, "unknown to the provider")
        return
    except (ProviderError, ConfigError) as exc:
        log.warning("poll of %s failed: %s", handle, exc)
        await _reschedule(ctx, batch, str(exc), None)
        return
    if not result.ended:
        await _reschedule(ctx, batch, None, provider, result.status)
        return
    try:
        await ingest(ctx, batch, provider)
    except ProviderError as exc:
        log.warning("reading results of %s failed: %s; will read again", handle, exc)
        await _reschedule(ctx, batch, f"results: {exc}", provider)


async def _reschedule(
    ctx: RuntimeContext,
    batch: LeasedBatch,
    error: str | None,
    provider: BatchProvider | None,
    status: str | None = None,
) -> None:
    now = ctx.clock()
    base = poll_delay(ctx, provider) if provider is not None else ctx.settings.poll_interval_s
    delay = min(ctx.settings.poll_max_interval_s, base * (1.5 ** min(batch.poll_count, 20)))
    delay *= 0.8 + 0.4 * ctx.rng.random()

    async def txn(conn: Any) -> bool:
        return await provider_batches.reschedule(
            conn,
            batch,
            ctx.owner,
            poll_count=batch.poll_count + 1,
            polled_at=now,
            next_poll_at=now + timedelta(seconds=delay),
            error=error,
            provider_status=status,
        )

    await ctx.db.transact(txn)


async def ingest(ctx: RuntimeContext, batch: LeasedBatch, provider: BatchProvider) -> ApplyStats:
    """Stream results in chunks through a three-stage pipeline: while chunk N is planned
    (Python, on the event loop), chunk N+1's snapshot is read and chunk N-1 commits (SQL, in
    the driver's threads). Commits stay strictly in order; a commit whose snapshot went
    stale recomputes under the write lock. Stops if the batch's lease is taken over."""
    assert batch.external_id is not None
    stats = ApplyStats()
    committing: asyncio.Task[bool] | None = None
    reading: asyncio.Task[Planned] | None = None
    held = True

    async def advance(next_chunk: list[ItemResult] | None) -> None:
        nonlocal committing, reading, held
        ready = reading
        reading = asyncio.create_task(read_chunk(ctx, next_chunk)) if next_chunk else None
        if ready is None:
            return
        planned = make_plan(ctx, await ready)
        if committing is not None:
            held = await committing and held
        committing = asyncio.create_task(_commit(ctx, batch, planned, stats))

    try:
        chunk: list[ItemResult] = []
        async for item in provider.results(batch.external_id):
            chunk.append(item)
            if len(chunk) >= ctx.settings.chunk_size:
                await advance(chunk)
                chunk = []
                if not held:
                    break
        if held:
            await advance(chunk or None)
            await advance(None)
    finally:
        for task in (reading, committing):
            if task is not None:
                done = await task
                if isinstance(done, bool):
                    held = done and held
    if not held:
        ctx.observe.lease_lost("provider_batch")
        log.info("batch %s was taken over or cancelled while ingesting; stopped", batch.id)
        return stats
    template = unanswered("the provider returned no result for this item")
    stats.add(await settle_unanswered(ctx, batch.id, template))
    if await _mark_ingested(ctx, batch, None):
        await _cleanup(ctx, batch, provider)
    log.info("ingested %s: %s", batch.external_id, stats)
    return stats


async def _commit(
    ctx: RuntimeContext, batch: LeasedBatch, planned: Planned, stats: ApplyStats
) -> bool:
    """Commit one chunk, then renew the lease; False once the lease is no longer ours."""
    stats.add(await commit_chunk(ctx, planned))
    await ctx.hooks.fire("ingested_chunk", batch_id=batch.id, results=len(planned.results))
    until = ctx.lease_until()
    return await ctx.db.transact(
        lambda conn: provider_batches.renew(conn, batch.id, ctx.owner, batch.fence, until)
    )


async def _mark_ingested(ctx: RuntimeContext, batch: LeasedBatch, error: str | None) -> bool:
    now = ctx.clock()
    done: bool = await ctx.db.transact(
        lambda conn: provider_batches.mark_ingested(conn, batch, ctx.owner, now=now, error=error)
    )
    if done:
        ctx.observe.batch_ended(
            batch_id=batch.id,
            job_id=batch.job_id,
            provider=batch.provider,
            model=batch.model,
            external_id=batch.external_id,
            request_count=batch.request_count,
            status="ingested",
            error=error,
            start=batch.created_at,
            end=now,
        )
    return done


async def _cleanup(ctx: RuntimeContext, batch: LeasedBatch, provider: BatchProvider) -> None:
    """Delete the batch's provider-side files now; the cleanup pass retries a failure."""
    assert batch.external_id is not None
    try:
        await provider.cleanup(batch.external_id)
    except ProviderError as exc:
        log.info("cleanup of %s failed (%s); the cleanup pass will retry", batch.external_id, exc)
        return
    await ctx.db.transact(lambda conn: batch_cleanup.cleanup_done(conn, batch.id))
