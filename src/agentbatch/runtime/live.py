"""Live calls with the durability of batch items.

Requests that must not wait for a batch (a deadline is near) go through the provider's
live API, as a provider batch of kind ``live``: recorded first (the batch row, its items,
the runs moved to ``waiting_model`` on them, in one guarded transaction, exactly as a
batch is recorded), then called under a renewed lease, then applied through the same
apply path as batch results (each item applied exactly once; a run that moved on
meanwhile ignores its answer), and the batch row ends ``ingested``. A worker that dies
between the calls and the apply leaves the batch ``submitting``: recovery abandons it
and its items are retried like any unanswered item (the calls may then be made again,
as a custom tool may run again; their results are applied once).

``resend_live`` sends again, live, steps that wait on a provider batch which has run
late for the job's deadline: the runs move to the new live items (``supersede``) and
the batch's answers, when they come, are ignored."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from agentbatch.domain.agents import split_handle
from agentbatch.domain.model_io import ItemResult, Outcome
from agentbatch.domain.statuses import RunStatus
from agentbatch.errors import ConfigError, ProviderError
from agentbatch.ids import new_id
from agentbatch.providers.base import BatchProvider
from agentbatch.providers.live import LiveCall, live_api
from agentbatch.runtime.apply import ApplyStats, apply_results
from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.leases import LeaseKeeper
from agentbatch.runtime.retry import with_retries
from agentbatch.runtime.submit.prepare import prepare_chunk
from agentbatch.runtime.submit.split import Prepared
from agentbatch.store import provider_batches, runs
from agentbatch.store.submissions import RecordedItem, record_chunk

log = logging.getLogger(__name__)


async def send_live(
    ctx: RuntimeContext,
    provider: BatchProvider,
    job_id: str,
    model: str,
    prepared: Sequence[Prepared],
    *,
    supersede: dict[str, str] | None = None,
) -> set[str]:
    """Record, call and apply ``prepared`` live; returns the run ids recorded."""
    call = live_api(provider)
    if not prepared or call is None:
        return set()
    batch_id = new_id("pbatch")
    now = ctx.clock()
    items = [
        RecordedItem(
            p.run_id,
            p.run_fence,
            p.item_id,
            p.step,
            p.attempt,
            p.size,
            p.new_messages,
            kind=p.kind,
            context=p.context,
            est_cost=p.est_cost,
        )
        for p in prepared
    ]

    async def record(conn: Any) -> set[str] | None:
        return await record_chunk(
            conn,
            batch_id=batch_id,
            job_id=job_id,
            provider=provider.name,
            model=model,
            owner=ctx.owner,
            now=now,
            until=ctx.lease_until(now),
            chunk=items,
            first=True,
            kind=provider_batches.LIVE,
            supersede=supersede,
        )

    moved = await ctx.db.transact(record) or set()
    if not moved:
        return set()
    await ctx.hooks.fire("recorded", batch_id=batch_id, job_id=job_id, live=True)
    entries = [p.entry for p in prepared if p.run_id in moved]
    started = ctx.clock()

    async def renew(conn: Any, until: datetime) -> bool:
        return await provider_batches.renew(conn, batch_id, ctx.owner, 1, until)

    async with LeaseKeeper(ctx, f"live batch {batch_id}", renew):
        results = await _call_all(ctx, provider.name, call, entries)
    stats = ApplyStats()
    for start in range(0, len(results), ctx.settings.chunk_size):
        stats.add(await apply_results(ctx, results[start : start + ctx.settings.chunk_size]))
    finished = ctx.clock()
    await ctx.db.transact(
        lambda conn: provider_batches.finish_live(
            conn, batch_id, ctx.owner, 1, started_at=started, now=finished
        )
    )
    log.info(
        "live batch %s (%s, %d requests%s): %s",
        batch_id,
        model,
        len(entries),
        ", resent after a late batch" if supersede else "",
        stats,
    )
    return moved


async def _call_all(
    ctx: RuntimeContext, name: str, call: LiveCall, entries: Sequence[dict[str, Any]]
) -> list[ItemResult]:
    slots = asyncio.Semaphore(max(1, ctx.limits.settings.live_concurrency))

    async def one(entry: dict[str, Any]) -> ItemResult:
        custom_id = str(entry["custom_id"])
        async with slots:
            try:
                return await with_retries(
                    lambda: call(entry),
                    what=f"live call to {name}",
                    retries=ctx.settings.provider_retries,
                    base=ctx.settings.provider_backoff_s,
                    sleep=ctx.sleep,
                    rng=ctx.rng,
                )
            except ConfigError as exc:  # a missing or rejected key: retrying cannot help
                return ItemResult(
                    custom_id, Outcome.ERRORED, error=str(exc), retryable=False, error_kind="config"
                )
            except ProviderError as exc:
                return ItemResult(custom_id, Outcome.ERRORED, error=f"live call failed: {exc}")

    return list(await asyncio.gather(*(one(e) for e in entries)))


async def resend_live(ctx: RuntimeContext, job_id: str, model: str, waiting: dict[str, str]) -> int:
    """Send the current step of these waiting runs (run id -> the item each waits on)
    again, live; returns how many."""
    provider_name, _ = split_handle(model)
    provider = ctx.registry.get(provider_name)
    now = ctx.clock()
    claimed = await ctx.db.transact(
        lambda conn: runs.claim_waiting_model(
            conn, list(waiting), owner=ctx.owner, now=now, until=ctx.lease_until(now)
        )
    )
    if not claimed:
        return 0
    chunk = await prepare_chunk(ctx, claimed, provider, now)
    supersede = {p.run_id: waiting[p.run_id] for p in chunk.ready}
    sent = await send_live(ctx, provider, job_id, model, chunk.ready, supersede=supersede)
    left = [(r.id, r.fence) for r in claimed if r.id not in sent]
    if left:  # not resent (moved on, or could not be prepared): give the claims back
        await ctx.db.transact(
            lambda conn: runs.release(conn, ctx.owner, left, RunStatus.WAITING_MODEL.value)
        )
    if sent:
        log.warning(
            "job %s: %d step(s) waiting on a late batch were sent again live", job_id, len(sent)
        )
    return len(sent)
