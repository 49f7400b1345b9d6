"""Reads for traces and metrics: when items were recorded and sent, jobs as they ended,
their provider batches, a step's input messages, and the counts ``/metrics`` shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.store.in_list import in_ids
from agentbatch.store.tables import batch_items, batch_jobs, messages, provider_batches, runs

_OPEN_JOBS = ("created", "running")
_IN_FLIGHT = ("submitting", "in_progress")


async def item_times(conn: AsyncConnection, item_ids: Sequence[str]) -> list[Any]:
    """(id, provider_batch_id, created_at, submitted_at) of each item."""
    out: list[Any] = []
    dialect = conn.dialect.name
    for start in range(0, len(item_ids), 2000):
        chunk = list(item_ids[start : start + 2000])
        rows = await conn.execute(
            select(
                batch_items.c.id,
                batch_items.c.provider_batch_id,
                batch_items.c.created_at,
                provider_batches.c.submitted_at,
            )
            .select_from(
                batch_items.outerjoin(
                    provider_batches, provider_batches.c.id == batch_items.c.provider_batch_id
                )
            )
            .where(in_ids(batch_items.c.id, chunk, dialect))
        )
        out.extend(rows.all())
    return out


async def step_inputs(conn: AsyncConnection, run_ids: Sequence[str]) -> list[Any]:
    """The user-side messages of these runs (input and heartbeats), for captured prompts."""
    rows = await conn.execute(
        select(messages.c.run_id, messages.c.step, messages.c.kind, messages.c.content)
        .where(in_ids(messages.c.run_id, list(run_ids), conn.dialect.name))
        .where(messages.c.role == "user")
        .order_by(messages.c.id)
    )
    return list(rows.all())


async def ended_jobs(conn: AsyncConnection, job_ids: Sequence[str]) -> list[Any]:
    rows = await conn.execute(
        select(
            batch_jobs.c.id,
            batch_jobs.c.status,
            batch_jobs.c.error,
            batch_jobs.c.request_count,
            batch_jobs.c.created_at,
            batch_jobs.c.finished_at,
        ).where(batch_jobs.c.id.in_(list(job_ids)))
    )
    return list(rows.all())


async def unfinished_batches_of(conn: AsyncConnection, job_id: str) -> list[Any]:
    """Provider batches of an ended job that were not ingested (failed, canceled)."""
    rows = await conn.execute(
        select(provider_batches).where(
            provider_batches.c.job_id == job_id, provider_batches.c.status != "ingested"
        )
    )
    return list(rows.all())


async def gauges(conn: AsyncConnection) -> dict[str, list[tuple[str, int]]]:
    """Runs of open jobs by status, open jobs by status, provider batches in flight."""
    open_jobs = select(batch_jobs.c.id).where(batch_jobs.c.status.in_(_OPEN_JOBS))
    run_rows = await conn.execute(
        select(runs.c.status, func.count())
        .where(runs.c.job_id.in_(open_jobs))
        .group_by(runs.c.status)
    )
    job_rows = await conn.execute(
        select(batch_jobs.c.status, func.count())
        .where(batch_jobs.c.status.in_(_OPEN_JOBS))
        .group_by(batch_jobs.c.status)
    )
    batch_rows = await conn.execute(
        select(provider_batches.c.provider, func.count())
        .where(provider_batches.c.status.in_(_IN_FLIGHT))
        .group_by(provider_batches.c.provider)
    )
    return {
        "runs": [(s, int(n)) for s, n in run_rows],
        "jobs": [(s, int(n)) for s, n in job_rows],
        "in_flight": [(p, int(n)) for p, n in batch_rows],
    }
