"""Send one recorded provider batch: the provider call under a renewed lease, then the
``accept`` transition. A create that succeeds for a batch that was cancelled or abandoned
meanwhile is cancelled at the provider at once (and left to the cleanup pass to follow).
A refused create settles the batch's items: a configuration error (missing or rejected
key, bad base URL) or a refusal as invalid (HTTP 400-class) fails their runs at once with
the provider's message; a transient failure that outlived the retries costs each an
attempt."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agentbatch.domain.model_io import ItemResult, Outcome
from agentbatch.errors import ConfigError, ProviderError
from agentbatch.observability.logs import bind
from agentbatch.providers.base import BatchProvider, BatchTag
from agentbatch.runtime.context import RuntimeContext, poll_delay
from agentbatch.runtime.leases import LeaseKeeper
from agentbatch.runtime.orphans import cancel_quietly, unknown_batches
from agentbatch.runtime.retry import with_retries
from agentbatch.runtime.settle import settle_unanswered
from agentbatch.store import batch_cleanup, provider_batches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingBatch:
    batch_id: str
    fence: int
    job_id: str
    model: str  # the agent's handle (provider/model)
    model_name: str  # what the provider calls it
    created_at: datetime
    entries: list[dict[str, Any]]


async def send_batch(ctx: RuntimeContext, provider: BatchProvider, batch: OutgoingBatch) -> None:
    with bind(batch_id=batch.batch_id, job_id=batch.job_id):
        await _send(ctx, provider, batch)


async def _send(ctx: RuntimeContext, provider: BatchProvider, batch: OutgoingBatch) -> None:
    await ctx.hooks.fire("recorded", batch_id=batch.batch_id, job_id=batch.job_id)
    tag = BatchTag(batch.batch_id, batch.job_id, batch.created_at, len(batch.entries))

    async def renew(conn: Any, until: datetime) -> bool:
        return await provider_batches.renew(conn, batch.batch_id, ctx.owner, batch.fence, until)

    tries = [0]

    async def create() -> str:
        tries[0] += 1
        return await provider.submit(batch.model_name, batch.entries, tag)

    try:
        async with LeaseKeeper(ctx, f"provider batch {batch.batch_id}", renew):
            handle = await with_retries(
                create,
                what=f"submit to {provider.name}",
                retries=ctx.settings.provider_retries,
                base=ctx.settings.provider_backoff_s,
                sleep=ctx.sleep,
                rng=ctx.rng,
            )
    except ConfigError as exc:  # a missing key, a bad base URL, a rejected key
        log.warning("provider batch %s not created: %s", batch.batch_id, exc)
        await _refused(ctx, batch, str(exc), Outcome.ERRORED, False, "config")
        return
    except ProviderError as exc:
        # transient (retries used up): costs each item an attempt; refused as invalid
        # (HTTP 400-class): the same batch would be refused again, so its runs fail now
        log.warning("provider batch %s not created: %s", batch.batch_id, exc)
        error = f"batch could not be created: {exc}"
        kind = None if exc.retryable else "invalid_request"
        await _refused(ctx, batch, error, Outcome.ERRORED, exc.retryable, kind)
        return
    await ctx.hooks.fire("created", batch_id=batch.batch_id, handle=handle)
    await _accept(ctx, provider, batch, handle)
    if tries[0] > 1:  # a failed try may have created a batch whose answer was lost
        await _cancel_duplicates(ctx, provider, tag)


async def _cancel_duplicates(ctx: RuntimeContext, provider: BatchProvider, tag: BatchTag) -> None:
    unknown = await unknown_batches(ctx, provider, tag)
    if unknown is None:
        log.warning(
            "provider batch %s was created after failed tries; a duplicate at %s cannot be "
            "told apart from another worker's create right now and is left to end",
            tag.batch_id,
            provider.name,
        )
        return
    for handle in unknown:
        log.warning("duplicate provider batch %s (a lost answer): cancelling it", handle)
        await cancel_quietly(provider, handle)


async def _accept(
    ctx: RuntimeContext, provider: BatchProvider, batch: OutgoingBatch, handle: str
) -> None:
    now = ctx.clock()
    next_poll = now + timedelta(seconds=poll_delay(ctx, provider))

    async def accept(conn: Any) -> bool:
        return await provider_batches.accept(
            conn,
            batch.batch_id,
            ctx.owner,
            batch.fence,
            handle=handle,
            now=now,
            next_poll_at=next_poll,
        )

    if await ctx.db.transact(accept):
        ctx.observe.batch_submitted(provider.name, len(batch.entries))
        log.info(
            "submitted provider batch %s (%s, %d requests) as %s",
            batch.batch_id,
            batch.model,
            len(batch.entries),
            handle,
        )
        return
    # cancelled or abandoned while the create was in flight: nothing of it may be applied
    log.warning(
        "provider batch %s (%s) was settled while being created; cancelling it at the provider",
        batch.batch_id,
        handle,
    )
    await ctx.db.transact(
        lambda conn: batch_cleanup.attach_orphan(conn, batch.batch_id, handle, now)
    )
    try:
        await provider.cancel(handle)
    except ProviderError as exc:  # the cleanup pass tries again
        log.info("cancel of %s failed (%s); the cleanup pass will retry", handle, exc)


async def _refused(
    ctx: RuntimeContext,
    batch: OutgoingBatch,
    error: str,
    outcome: Outcome,
    retryable: bool,
    kind: str | None,
) -> None:
    now = ctx.clock()

    async def fail(conn: Any) -> bool:
        return await provider_batches.fail_creation(
            conn, batch.batch_id, ctx.owner, batch.fence, error=error, now=now
        )

    if await ctx.db.transact(fail):
        result = ItemResult("", outcome, error=error, retryable=retryable, error_kind=kind)
        await settle_unanswered(ctx, batch.batch_id, result)
