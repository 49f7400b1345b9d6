"""Prepare and submit: queued runs become requests in provider batches.

Queued runs accumulate until a group (job, model) fills a batch or its oldest run has
waited ``send_delay_s``. A group is claimed with a lease (each run's fence grows),
prepared in chunks (bulk reads, pure request assembly), split at the provider's count and
byte limits, recorded (``sender``) and sent (``send``). A provider that is not configured
fails the group's runs at once, naming the missing setting.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agentbatch.domain.agents import split_handle
from agentbatch.errors import ConfigError, InvalidInput
from agentbatch.ids import as_utc
from agentbatch.observability.logs import bind
from agentbatch.providers.base import check_config
from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.live import send_live
from agentbatch.runtime.routing import open_route, split, stop_over_budget
from agentbatch.runtime.settle import fail_claimed
from agentbatch.runtime.submit.prepare import prepare_chunk
from agentbatch.runtime.submit.sender import BatchSender
from agentbatch.runtime.submit.split import BatchSplitter, Prepared, payload_size, split_by_limits
from agentbatch.store import runs
from agentbatch.store.rows import ClaimedRun

__all__ = ["BatchSplitter", "Prepared", "payload_size", "split_by_limits", "submit_pass"]


async def submit_pass(ctx: RuntimeContext) -> int:
    now = ctx.clock()
    async with ctx.db.read() as conn:
        groups = await runs.ready_groups(conn, now)
    submitted = 0
    delay = timedelta(seconds=ctx.settings.send_delay_s)
    for group in groups:
        oldest = as_utc(group.oldest)
        if (
            group.n < ctx.settings.max_batch_requests
            and oldest is not None
            and oldest > now - delay
        ):
            continue  # let the batch fill a little longer
        with ctx.metrics.phase("prepare+submit", ctx.db) as stats:
            n = await submit_group(ctx, group.job_id, group.model)
            stats.items += n
        submitted += n
    return submitted


async def _claim(ctx: RuntimeContext, job_id: str, model: str, limit: int) -> list[ClaimedRun]:
    now = ctx.clock()

    async def claim(conn: Any) -> list[ClaimedRun]:
        return await runs.claim(
            conn,
            job_id=job_id,
            model=model,
            owner=ctx.owner,
            now=now,
            until=ctx.lease_until(now),
            limit=limit,
            skip_locked=ctx.skip_locked,
        )

    return await ctx.db.transact(claim)


async def submit_group(ctx: RuntimeContext, job_id: str, model: str) -> int:
    with bind(job_id=job_id):
        return await _submit_group(ctx, job_id, model)


async def _submit_group(ctx: RuntimeContext, job_id: str, model: str) -> int:
    provider_name, model_name = split_handle(model)
    try:
        provider = ctx.registry.get(provider_name)
        check_config(provider)
    except (ConfigError, InvalidInput) as exc:
        claimed = await _claim(ctx, job_id, model, ctx.settings.max_batch_requests)
        await fail_claimed(ctx, claimed, str(exc), "config")
        return len(claimed)
    cap = max(1, min(provider.limits.max_requests, ctx.settings.max_batch_requests))
    claimed = await _claim(ctx, job_id, model, cap)
    if not claimed:
        return 0
    await ctx.hooks.fire("claimed", job_id=job_id, runs=[r.id for r in claimed])
    now = ctx.clock()
    sender = BatchSender(ctx, job_id, model, model_name, provider, cap)
    failed: set[str] = set()
    sent_live: set[str] = set()
    plan = await open_route(ctx, job_id)  # the job's deadline and budget
    by_id = {r.id: r for r in claimed}
    try:
        for start in range(0, len(claimed), ctx.settings.chunk_size):
            if sender.lost:
                break
            chunk = await prepare_chunk(
                ctx, claimed[start : start + ctx.settings.chunk_size], provider, now
            )
            by_error: dict[str, list[ClaimedRun]] = {}
            for run in claimed[start : start + ctx.settings.chunk_size]:
                if run.id in chunk.failures:
                    by_error.setdefault(chunk.failures[run.id], []).append(run)
            for error, failing in by_error.items():
                failed |= await fail_claimed(ctx, failing, error, "prepare")
            to_batch, to_live = await split(ctx, plan, provider, model, chunk.ready)
            failed |= await stop_over_budget(ctx, plan, by_id)
            sender.add(to_batch)  # recorded in the background while the next is prepared
            sent_live |= await send_live(ctx, provider, job_id, model, to_live)
    finally:
        await sender.close()
    done = sender.recorded | failed | sent_live
    left = [r for r in claimed if r.id not in done]
    if left:  # given up (a lost batch): let any worker take them at once
        pairs = [(r.id, r.fence) for r in left]
        await ctx.db.transact(lambda conn: runs.release(conn, ctx.owner, pairs))
    return len(claimed)
