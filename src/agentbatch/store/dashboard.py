"""Reads for the dashboard: one organisation's jobs, runs, provider batches, agents,
transcripts and memory, each page in a bounded number of statements. Listings page by
keyset (``after`` / ``before`` an id), never by offset, so the 1,000th page of 100,000
runs costs what the first does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, literal, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.store.tables import (
    batch_items,
    batch_jobs,
    provider_batches,
    runs,
    tools,
)

ERROR_CHARS = 300  # failures are grouped by their error's first characters
_SUMS = (
    func.count().label("n"),
    func.coalesce(func.sum(runs.c.step), 0).label("steps"),
    func.coalesce(func.sum(runs.c.input_tokens), 0).label("input_tokens"),
    func.coalesce(func.sum(runs.c.output_tokens), 0).label("output_tokens"),
    func.coalesce(func.sum(runs.c.cache_read_tokens), 0).label("cache_read_tokens"),
    func.coalesce(func.sum(runs.c.cache_write_tokens), 0).label("cache_write_tokens"),
)


async def job_row(conn: AsyncConnection, org_id: str, job_id: str) -> Any:
    query = select(batch_jobs).where(batch_jobs.c.id == job_id, batch_jobs.c.org_id == org_id)
    return (await conn.execute(query)).first()


async def job_rows(
    conn: AsyncConnection, org_id: str, *, limit: int, before: str | None, status: str | None
) -> list[Any]:
    """Newest first; ``before`` is the last job id of the previous page."""
    query = (
        select(batch_jobs)
        .where(batch_jobs.c.org_id == org_id)
        .order_by(batch_jobs.c.created_at.desc(), batch_jobs.c.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(batch_jobs.c.status == status)
    if before:
        ref = (
            await conn.execute(
                select(batch_jobs.c.created_at).where(
                    batch_jobs.c.id == before, batch_jobs.c.org_id == org_id
                )
            )
        ).first()
        if ref is not None:
            query = query.where(
                (batch_jobs.c.created_at < ref.created_at)
                | and_(batch_jobs.c.created_at == ref.created_at, batch_jobs.c.id < before)
            )
    return list((await conn.execute(query)).all())


async def run_totals(conn: AsyncConnection, job_ids: Sequence[str]) -> list[Any]:
    """Per (job, model, status): runs, steps taken and tokens, in one scan."""
    if not job_ids:
        return []
    rows = await conn.execute(
        select(runs.c.job_id, runs.c.model, runs.c.status, *_SUMS)
        .where(runs.c.job_id.in_(list(job_ids)))
        .group_by(runs.c.job_id, runs.c.model, runs.c.status)
    )
    return list(rows.all())


async def turnarounds(conn: AsyncConnection, org_id: str, limit: int = 50) -> list[Any]:
    """(provider, model, submitted_at, ended_at) of the organisation's latest ingested
    provider batches: the turnaround history an ETA is judged from."""
    rows = await conn.execute(
        select(
            provider_batches.c.provider,
            provider_batches.c.model,
            provider_batches.c.submitted_at,
            provider_batches.c.ended_at,
        )
        .join(batch_jobs, batch_jobs.c.id == provider_batches.c.job_id)
        .where(
            batch_jobs.c.org_id == org_id,
            provider_batches.c.status == "ingested",
            provider_batches.c.submitted_at.is_not(None),
            provider_batches.c.ended_at.is_not(None),
        )
        .order_by(provider_batches.c.ended_at.desc())
        .limit(limit)
    )
    return list(rows.all())


async def batch_rows(
    conn: AsyncConnection, job_ids: Sequence[str], *, limit: int, after: str | None = None
) -> list[Any]:
    query = (
        select(provider_batches)
        .where(provider_batches.c.job_id.in_(list(job_ids)))
        .order_by(provider_batches.c.id)
        .limit(limit)
    )
    if after:
        query = query.where(provider_batches.c.id > after)
    return list((await conn.execute(query)).all())


async def failure_groups(conn: AsyncConnection, job_id: str, limit: int = 20) -> list[Any]:
    """Failed runs grouped by (kind, error's first characters), biggest first."""
    error = func.substr(func.coalesce(runs.c.last_error, ""), 1, ERROR_CHARS).label("error")
    kind = func.coalesce(runs.c.error_kind, "").label("kind")
    rows = await conn.execute(
        select(kind, error, func.count().label("n"))
        .where(runs.c.job_id == job_id, runs.c.status == "failed")
        .group_by(kind, error)
        .order_by(func.count().desc(), kind, error)
        .limit(limit)
    )
    return list(rows.all())


async def failure_examples(
    conn: AsyncConnection, job_id: str, kind: str, error: str, limit: int = 3
) -> list[Any]:
    rows = await conn.execute(
        select(runs.c.id, runs.c.agent_id, runs.c.step, runs.c.attempt)
        .where(
            runs.c.job_id == job_id,
            runs.c.status == "failed",
            func.coalesce(runs.c.error_kind, "") == kind,
            func.substr(func.coalesce(runs.c.last_error, ""), 1, ERROR_CHARS) == error,
        )
        .order_by(runs.c.id)
        .limit(limit)
    )
    return list(rows.all())


def _bucket(dialect: str, start: datetime, width: float) -> Any:
    """Which ``width``-second bucket after ``start`` a run finished in (NULL: not yet)."""
    if dialect == "sqlite":  # datetimes are stored as UTC text
        t0 = int(start.timestamp())
        return (func.unixepoch(runs.c.finished_at) - t0).self_group().op("/")(int(max(1, width)))
    return func.floor(func.extract("epoch", runs.c.finished_at - literal(start)) / width)


async def job_buckets(
    conn: AsyncConnection, job_id: str, start: datetime, width_s: float
) -> list[Any]:
    """Per (model, status, finished bucket): runs, steps and tokens, in one scan of the
    job's runs (totals and the finished-over-time chart come from the same rows)."""
    bucket = _bucket(conn.dialect.name, start, width_s).label("b")
    rows = await conn.execute(
        select(
            literal(job_id).label("job_id"),
            runs.c.model,
            runs.c.status,
            bucket,
            *_SUMS,
        )
        .where(runs.c.job_id == job_id)
        .group_by(runs.c.model, runs.c.status, literal_column("b"))
    )
    return list(rows.all())


async def run_page(
    conn: AsyncConnection,
    job_id: str,
    *,
    status: str | None,
    after: str | None,
    before: str | None,
    limit: int,
) -> list[Any]:
    """A page of the job's runs in id order (``before`` reads backwards, returned in order)."""
    query = select(runs).where(runs.c.job_id == job_id).limit(limit)
    if status:
        query = query.where(runs.c.status == status)
    if before:
        query = query.where(runs.c.id < before).order_by(runs.c.id.desc())
        return list(reversed((await conn.execute(query)).all()))
    if after:
        query = query.where(runs.c.id > after)
    return list((await conn.execute(query.order_by(runs.c.id))).all())


async def run_row(conn: AsyncConnection, org_id: str, run_id: str) -> Any:
    query = select(runs).where(runs.c.id == run_id, runs.c.org_id == org_id)
    return (await conn.execute(query)).first()


async def run_items(conn: AsyncConnection, run_id: str, limit: int = 200) -> list[Any]:
    rows = await conn.execute(
        select(
            batch_items.c.id,
            batch_items.c.provider_batch_id,
            batch_items.c.step,
            batch_items.c.attempt,
            batch_items.c.outcome,
            batch_items.c.error,
            batch_items.c.applied,
            batch_items.c.created_at,
            batch_items.c.applied_at,
            provider_batches.c.external_id,
            provider_batches.c.provider,
        )
        .select_from(
            batch_items.outerjoin(
                provider_batches, provider_batches.c.id == batch_items.c.provider_batch_id
            )
        )
        .where(batch_items.c.run_id == run_id)
        .order_by(batch_items.c.created_at, batch_items.c.id)
        .limit(limit)
    )
    return list(rows.all())


async def tool_list(conn: AsyncConnection, org_id: str) -> list[Any]:
    rows = await conn.execute(
        select(tools).where(tools.c.org_id == org_id).order_by(tools.c.name).limit(500)
    )
    return list(rows.all())
