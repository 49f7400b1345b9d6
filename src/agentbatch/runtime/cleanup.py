"""Provider-side cleanup: what remains at a provider after our own status settled.

* ``lookup``: a create may have happened without being recorded (the worker died or
  stalled between the provider call and ``accept``, or the job was cancelled meanwhile):
  ask the provider for batches carrying this batch's tag, cancel those we do not know,
  and follow the first.
* ``pending``: a cancelled or abandoned batch the provider has is cancelled there and
  followed to its end (``cancelling`` → ``cancelled``); whatever it returns is recorded on
  the settled items as ignored, never applied; then its files are deleted. An ingested
  batch only has its files deleted.

Each batch is handled under a lease; failures are retried later with a backoff.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from agentbatch.domain.statuses import BatchStatus
from agentbatch.domain.text import storable_result
from agentbatch.errors import ConfigError, ProviderError, UnknownBatch
from agentbatch.ids import as_utc
from agentbatch.providers.base import BatchProvider, BatchTag
from agentbatch.runtime.context import RuntimeContext, poll_delay
from agentbatch.runtime.orphans import unknown_batches
from agentbatch.store import batch_cleanup, items
from agentbatch.store.rows import LeasedBatch

log = logging.getLogger(__name__)


async def cleanup_pass(ctx: RuntimeContext, limit: int = 20) -> int:
    now = ctx.clock()

    async def claim(conn: Any) -> list[LeasedBatch]:
        return await batch_cleanup.claim_cleanup(
            conn,
            owner=ctx.owner,
            now=now,
            until=ctx.lease_until(now),
            limit=limit,
            skip_locked=ctx.skip_locked,
        )

    batches = await ctx.db.transact(claim)
    for batch in batches:
        try:
            await _clean(ctx, batch)
        except (ProviderError, ConfigError) as exc:
            log.info("cleanup of provider batch %s failed (%s); retrying later", batch.id, exc)
            await _later(ctx, batch, backoff=True)
    return len(batches)


async def _set(ctx: RuntimeContext, batch: LeasedBatch, cleanup: str, **values: Any) -> None:
    await ctx.db.transact(
        lambda conn: batch_cleanup.set_cleanup(conn, batch, ctx.owner, cleanup=cleanup, **values)
    )


async def _later(ctx: RuntimeContext, batch: LeasedBatch, *, backoff: bool = False) -> None:
    base = ctx.settings.poll_interval_s
    delay = min(ctx.settings.poll_max_interval_s, base * (4 if backoff else 1))
    next_at = ctx.clock() + timedelta(seconds=delay * (0.8 + 0.4 * ctx.rng.random()))
    await _set(ctx, batch, batch.cleanup or "pending", next_poll_at=next_at)


async def _clean(ctx: RuntimeContext, batch: LeasedBatch) -> None:
    provider = ctx.registry.get(batch.provider)
    if batch.cleanup == "lookup" or batch.external_id is None:
        await _lookup(ctx, batch, provider)
        return
    handle = batch.external_id
    if batch.status == BatchStatus.INGESTED.value:
        await provider.cleanup(handle)
        await _set(ctx, batch, "done")
        return
    try:
        polled = await provider.poll(handle)
    except UnknownBatch:
        await _set(ctx, batch, "done", provider_status="unknown")
        return
    if not polled.ended:
        await provider.cancel(handle)
        next_at = ctx.clock() + timedelta(seconds=poll_delay(ctx, provider))
        await _set(ctx, batch, "pending", next_poll_at=next_at, provider_status=polled.status)
        return
    ignored = await _record_ignored(ctx, batch, provider, handle)
    await provider.cleanup(handle)
    log.info(
        "provider batch %s (%s) ended after it was settled: %d results ignored",
        batch.id,
        handle,
        ignored,
    )
    await _set(ctx, batch, "done", provider_status=polled.status or "ended")


async def _record_ignored(
    ctx: RuntimeContext, batch: LeasedBatch, provider: BatchProvider, handle: str
) -> int:
    reason = f"ignored: {batch.error or 'the job was cancelled'}"[:500]
    count = 0
    rows: list[dict[str, Any]] = []

    async def flush() -> None:
        chunk = list(rows)
        rows.clear()
        await ctx.db.transact(lambda conn: items.record_ignored(conn, batch.id, chunk))

    async for raw in provider.results(handle):
        result = storable_result(raw)
        response = result.response.to_dict() if result.response is not None else None
        rows.append(
            {
                "b_id": result.custom_id,
                "outcome": result.outcome.value,
                "result": response,
                "error": reason if result.error is None else f"{reason} ({result.error[:200]})",
            }
        )
        count += 1
        if len(rows) >= ctx.settings.chunk_size:
            await flush()
    if rows:
        await flush()
    return count


async def _lookup(ctx: RuntimeContext, batch: LeasedBatch, provider: BatchProvider) -> None:
    # an abandoned batch's create happened before it was abandoned (a later one is cancelled
    # by its own creator); a cancelled one's creator may have sent it after the cancel
    before = batch.ended_at if batch.status == BatchStatus.FAILED.value else None
    created = as_utc(batch.created_at)
    assert created is not None
    tag = BatchTag(batch.id, batch.job_id, created, batch.request_count, as_utc(before))
    orphans = await unknown_batches(ctx, provider, tag)
    if orphans is None:  # another create that would look the same is in flight
        await _later(ctx, batch)
        return
    for handle in orphans:
        log.warning("provider batch %s was created but never recorded: cancelling", handle)
        await provider.cancel(handle)
    if orphans:
        await _set(ctx, batch, "pending", external_id=orphans[0], next_poll_at=ctx.clock())
    else:
        await _set(ctx, batch, "done")
