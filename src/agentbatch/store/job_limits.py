"""Reads for deadlines and budgets: a job's deadline and budget, the measured turnaround
of a provider/model's batches and live calls, runs near a deadline still waiting on a
batch, and what a job has spent (from token counts, split into batch and live) and has
committed (the expected cost of requests sent and not yet answered)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.statuses import BatchStatus, JobStatus, RunStatus
from agentbatch.ids import as_utc
from agentbatch.store.leases import lease_free
from agentbatch.store.tables import batch_items, batch_jobs, provider_batches, runs

_OPEN = [JobStatus.CREATED.value, JobStatus.RUNNING.value]
_USAGE = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


@dataclass(frozen=True, slots=True)
class JobLimits:
    id: str
    max_steps: int
    deadline_at: datetime | None
    max_cost_usd: float | None


async def job_limits(conn: AsyncConnection, job_ids: Iterable[str]) -> dict[str, JobLimits]:
    rows = await conn.execute(
        select(
            batch_jobs.c.id,
            batch_jobs.c.max_steps,
            batch_jobs.c.deadline_at,
            batch_jobs.c.max_cost_usd,
        ).where(batch_jobs.c.id.in_(list(job_ids)))
    )
    return {r.id: JobLimits(r.id, r.max_steps, as_utc(r.deadline_at), r.max_cost_usd) for r in rows}


async def turnaround_samples(
    conn: AsyncConnection, provider: str, model: str, kind: str, limit: int
) -> list[float]:
    """Seconds from submission to end of this provider/model's latest ingested batches
    of ``kind`` (the ``turnaround`` index)."""
    rows = await conn.execute(
        select(provider_batches.c.submitted_at, provider_batches.c.ended_at)
        .where(
            provider_batches.c.provider == provider,
            provider_batches.c.model == model,
            provider_batches.c.kind == kind,
            provider_batches.c.status == BatchStatus.INGESTED.value,
            provider_batches.c.ended_at.is_not(None),
            provider_batches.c.submitted_at.is_not(None),
        )
        .order_by(provider_batches.c.ended_at.desc())
        .limit(limit)
    )
    out = []
    for r in rows:
        start, end = as_utc(r.submitted_at), as_utc(r.ended_at)
        if start is not None and end is not None:
            out.append(max(0.0, (end - start).total_seconds()))
    return out


async def near_deadline(conn: AsyncConnection, until: datetime) -> list[str]:
    """Open jobs whose deadline falls before ``until``."""
    rows = await conn.execute(
        select(batch_jobs.c.id).where(
            batch_jobs.c.status.in_(_OPEN),
            batch_jobs.c.deadline_at.is_not(None),
            batch_jobs.c.deadline_at <= until,
        )
    )
    return [r.id for r in rows]


@dataclass(frozen=True, slots=True)
class WaitingRun:
    """A run waiting on an item of a provider batch (not a live one)."""

    id: str
    job_id: str
    agent_id: str
    model: str
    step: int
    current_item_id: str


async def waiting_on_batches(
    conn: AsyncConnection, job_id: str, now: datetime, limit: int
) -> list[WaitingRun]:
    rows = await conn.execute(
        select(
            runs.c.id,
            runs.c.job_id,
            runs.c.agent_id,
            runs.c.model,
            runs.c.step,
            runs.c.current_item_id,
        )
        .join(batch_items, batch_items.c.id == runs.c.current_item_id)
        .join(provider_batches, provider_batches.c.id == batch_items.c.provider_batch_id)
        .where(
            runs.c.job_id == job_id,
            runs.c.status == RunStatus.WAITING_MODEL.value,
            lease_free(runs, now),
            provider_batches.c.kind != "live",
        )
        .order_by(runs.c.id)
        .limit(limit)
    )
    return [WaitingRun(*r) for r in rows]


def _live_usage_columns() -> list[Any]:
    return [
        func.coalesce(func.sum(batch_items.c.result[("usage", name)].as_integer()), 0).label(name)
        for name in _USAGE
    ]


async def live_usage_by_model(conn: AsyncConnection, job_id: str) -> list[Any]:
    """Per model: tokens of the job's succeeded live calls (and how many there were)."""
    rows = await conn.execute(
        select(
            provider_batches.c.model,
            func.count().label("requests"),
            *_live_usage_columns(),
        )
        .select_from(
            batch_items.join(
                provider_batches, provider_batches.c.id == batch_items.c.provider_batch_id
            )
        )
        .where(
            provider_batches.c.job_id == job_id,
            provider_batches.c.kind == "live",
            batch_items.c.outcome == "succeeded",
            batch_items.c.applied.is_(True),
        )
        .group_by(provider_batches.c.model)
    )
    return list(rows.all())


async def route_requests(conn: AsyncConnection, job_id: str) -> dict[str, int]:
    """How many of the job's requests went through each kind of provider batch (batch,
    live), whatever their outcome."""
    rows = await conn.execute(
        select(provider_batches.c.kind, func.count())
        .select_from(
            batch_items.join(
                provider_batches, provider_batches.c.id == batch_items.c.provider_batch_id
            )
        )
        .where(provider_batches.c.job_id == job_id)
        .group_by(provider_batches.c.kind)
    )
    return {str(kind): int(n) for kind, n in rows}


async def committed(conn: AsyncConnection, job_id: str) -> tuple[float, int]:
    """(expected USD, count) of the job's requests sent and not yet settled."""
    row = (
        await conn.execute(
            select(func.coalesce(func.sum(batch_items.c.est_cost_usd), 0.0), func.count())
            .select_from(
                batch_items.join(
                    provider_batches, provider_batches.c.id == batch_items.c.provider_batch_id
                )
            )
            .where(and_(provider_batches.c.job_id == job_id, batch_items.c.applied.is_(False)))
        )
    ).one()
    return float(row[0] or 0.0), int(row[1])


async def output_per_call(conn: AsyncConnection, job_id: str) -> float | None:
    """The job's average output tokens per model call so far (None before the first)."""
    row = (
        await conn.execute(
            select(func.sum(runs.c.output_tokens), func.sum(runs.c.step)).where(
                runs.c.job_id == job_id
            )
        )
    ).one()
    calls = int(row[1] or 0)
    return None if calls == 0 else float(row[0] or 0) / calls


async def org_output_per_call(
    conn: AsyncConnection, org_id: str, model: str, sample: int = 1000
) -> float | None:
    """Average output tokens per model call of this org's latest finished runs of
    ``model`` (None without any)."""
    recent = (
        select(runs.c.output_tokens, runs.c.step)
        .where(
            runs.c.org_id == org_id,
            runs.c.model == model,
            runs.c.status == RunStatus.COMPLETED.value,
            runs.c.step > 0,
        )
        .order_by(runs.c.finished_at.desc())
        .limit(sample)
        .subquery()
    )
    row = (
        await conn.execute(select(func.sum(recent.c.output_tokens), func.sum(recent.c.step)))
    ).one()
    calls = int(row[1] or 0)
    return None if calls == 0 else float(row[0] or 0) / calls


async def job_org(conn: AsyncConnection, job_id: str) -> str | None:
    row = (await conn.execute(select(batch_jobs.c.org_id).where(batch_jobs.c.id == job_id))).first()
    return None if row is None else str(row.org_id)
