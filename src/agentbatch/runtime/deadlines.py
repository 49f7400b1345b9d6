"""Deadlines: a job with ``deadline_at`` finishes in time by sending late steps through
the provider's live API.

The turnaround of a provider/model's batches (and of its live calls) is learned from its
own history: a percentile (``AGENTBATCH_TURNAROUND_PERCENTILE``) of the submit-to-end time
of its latest ingested provider batches, or a default while there are too few. A step goes
through the batch while one more batch round still leaves time to finish the run's
remaining steps live (``use_batch``); otherwise it goes live. A step already waiting on a
batch that has run late is sent again live once waiting longer would miss the deadline
(``must_escalate``): the run moves to the live item and the batch's answer, when it
comes, is ignored (``deadline_pass``). Providers without a live API stay on the batch."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from agentbatch.domain.agents import split_handle
from agentbatch.errors import ConfigError, InvalidInput
from agentbatch.providers.live import live_api
from agentbatch.runtime.context import RuntimeContext
from agentbatch.store import job_limits as reads
from agentbatch.store.job_limits import JobLimits

if TYPE_CHECKING:
    from agentbatch.runtime.submit.split import Prepared

log = logging.getLogger(__name__)
CHECK_EVERY_S = 10.0  # how often a worker looks for steps waiting on a late batch


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values`` (not empty)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def use_batch(
    *,
    now: datetime,
    deadline: datetime | None,
    steps_left: int,
    batch_s: float,
    live_s: float,
    margin_s: float,
) -> bool:
    """Whether this step may go through the batch: after one batch round, the run's other
    remaining steps must still fit live before the deadline."""
    if deadline is None:
        return True
    needed = batch_s + max(0, steps_left - 1) * live_s + margin_s
    return now + timedelta(seconds=needed) <= deadline


def must_escalate(
    *, now: datetime, deadline: datetime, steps_left: int, live_s: float, margin_s: float
) -> bool:
    """Whether a step waiting on a batch must be sent live now to finish the run in time."""
    return now + timedelta(seconds=steps_left * live_s + margin_s) >= deadline


async def limits_of(ctx: RuntimeContext, job_id: str) -> JobLimits | None:
    """A job's deadline and budget (fixed at creation: read once per worker)."""
    found = ctx.limits.jobs.get(job_id)
    if found is None:
        async with ctx.db.read() as conn:
            found = (await reads.job_limits(conn, [job_id])).get(job_id)
        if found is not None:
            if len(ctx.limits.jobs) > 10_000:
                ctx.limits.jobs.clear()
            ctx.limits.jobs[job_id] = found
    return found


async def turnaround(ctx: RuntimeContext, provider: str, model: str, kind: str) -> float:
    """Seconds a request of this provider/model takes through ``kind`` (batch or live)."""
    settings = ctx.limits.settings
    key = (provider, model, kind)
    now = ctx.clock()
    cached = ctx.limits.cached_turnaround(key, now)
    if cached is not None:
        return cached
    async with ctx.db.read() as conn:
        samples = await reads.turnaround_samples(
            conn, provider, model, kind, settings.turnaround_samples
        )
    if len(samples) >= settings.turnaround_min_samples:
        value = percentile(samples, settings.turnaround_percentile)
    else:
        value = settings.batch_turnaround_s if kind == "batch" else settings.live_turnaround_s
    ctx.limits.turnaround[key] = (now, value)
    return value


async def route(
    ctx: RuntimeContext, job: JobLimits, provider: object, model: str, ready: list[Prepared]
) -> tuple[list[Prepared], list[Prepared]]:
    """(through the batch, live) for a job's prepared requests."""
    if job.deadline_at is None or not ready:
        return ready, []
    name = str(getattr(provider, "name", ""))
    if live_api(provider) is None:
        if (name, job.id) not in ctx.limits.warned:
            ctx.limits.warned.add((name, job.id))
            log.warning("job %s has a deadline but %s/ has no live API: batch only", job.id, name)
        return ready, []
    now = ctx.clock()
    settings = ctx.limits.settings
    batch_s = await turnaround(ctx, name, model, "batch")
    live_s = await turnaround(ctx, name, model, "live")
    batch: list[Prepared] = []
    live: list[Prepared] = []
    for item in ready:
        fits = use_batch(
            now=now,
            deadline=job.deadline_at,
            steps_left=job.max_steps - item.step,
            batch_s=batch_s,
            live_s=live_s,
            margin_s=settings.deadline_margin_s,
        )
        (batch if fits else live).append(item)
    return batch, live


async def deadline_pass(ctx: RuntimeContext, limit: int = 500) -> int:
    """Send live again the steps of deadline jobs whose batch is late; returns how many."""
    from agentbatch.runtime.live import resend_live  # live imports submit, which imports us

    now = ctx.clock()
    last = ctx.limits.last_deadline_pass
    if last is not None and (now - last).total_seconds() < CHECK_EVERY_S:
        return 0
    ctx.limits.last_deadline_pass = now
    settings = ctx.limits.settings
    # a step waiting on a batch is resent at most max_steps (<= 1000) live calls early
    horizon = now + timedelta(
        seconds=settings.live_turnaround_s * 1000 + settings.deadline_margin_s
    )
    async with ctx.db.read() as conn:
        job_ids = await reads.near_deadline(conn, horizon)
    sent = 0
    for job_id in job_ids:
        job = await limits_of(ctx, job_id)
        if job is None or job.deadline_at is None:
            continue
        async with ctx.db.read() as conn:
            waiting = await reads.waiting_on_batches(conn, job_id, now, limit)
        late: dict[str, dict[str, str]] = {}
        for run in waiting:
            provider_name, _ = _split(run.model)
            try:
                provider = ctx.registry.get(provider_name)
            except (ConfigError, InvalidInput):
                continue
            if live_api(provider) is None:
                continue
            live_s = await turnaround(ctx, provider_name, run.model, "live")
            if must_escalate(
                now=now,
                deadline=job.deadline_at,
                steps_left=job.max_steps - run.step,
                live_s=live_s,
                margin_s=settings.deadline_margin_s,
            ):
                late.setdefault(run.model, {})[run.id] = run.current_item_id
        for model, runs_waiting in late.items():
            sent += await resend_live(ctx, job_id, model, runs_waiting)
    return sent


def _split(handle: str) -> tuple[str, str]:
    try:
        return split_handle(handle)
    except ValueError:
        return handle, handle
