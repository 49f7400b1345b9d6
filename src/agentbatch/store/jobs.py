"""Jobs: the only module that changes a job's status.

``created → running`` (``mark_running_op``, with the first recorded batch), ``→ completed |
failed`` (``finish``: only when open and no run is active; a failed job gets a summary of
why), ``→ cancelled`` (``cancel``: runs, unapplied items and open provider batches in the
same transaction). A finished or cancelled job never moves again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.statuses import JOB_TERMINAL, JobStatus
from agentbatch.store import items, provider_batches, run_reads, runs
from agentbatch.store.bulk import Op, to_driver
from agentbatch.store.rows import FailureGroup, JobSettings
from agentbatch.store.tables import batch_jobs

_OPEN = [JobStatus.CREATED.value, JobStatus.RUNNING.value]
_SETTINGS_COLUMNS = (  # JobSettings' field order
    batch_jobs.c.id,
    batch_jobs.c.max_steps,
    batch_jobs.c.max_attempts,
    batch_jobs.c.options,
    batch_jobs.c.status,
)


async def settings(conn: AsyncConnection, job_ids: Iterable[str]) -> dict[str, JobSettings]:
    rows = await conn.execute(select(*_SETTINGS_COLUMNS).where(batch_jobs.c.id.in_(list(job_ids))))
    return {r.id: JobSettings(*r) for r in rows}


async def status(conn: AsyncConnection, job_id: str) -> str | None:
    row = (await conn.execute(select(batch_jobs.c.status).where(batch_jobs.c.id == job_id))).first()
    return None if row is None else str(row.status)


def mark_running_op(dialect: str, job_id: str, now: datetime) -> Op:
    """created → running (a no-op for a job already running or ended)."""
    stamp = to_driver(batch_jobs, "started_at", now, dialect)
    if dialect == "sqlite":
        sql = (
            "UPDATE batch_jobs SET status = 'running', started_at = ?, updated_at = ? "
            "WHERE id = ? AND status = 'created'"
        )
    else:
        sql = (
            "UPDATE batch_jobs SET status = 'running', started_at = $1, updated_at = $2 "
            "WHERE id = $3 AND status = 'created'"
        )
    return sql, [(stamp, stamp, job_id)]


async def finishable(conn: AsyncConnection, limit: int = 100) -> list[str]:
    active = select(runs.runs.c.id).where(
        runs.runs.c.job_id == batch_jobs.c.id, runs.runs.c.status.in_(runs._ACTIVE)
    )
    rows = await conn.execute(
        select(batch_jobs.c.id).where(batch_jobs.c.status.in_(_OPEN), ~active.exists()).limit(limit)
    )
    return [r.id for r in rows]


def failure_text(groups: list[FailureGroup], total: int) -> str:
    """``"3 of 3 runs failed: config ×2 (ANTHROPIC_API_KEY is not set); …"``"""
    failed = sum(g.count for g in groups)
    parts = [f"{g.kind} ×{g.count} (e.g. {g.example[:300]})" for g in groups[:5]]
    if len(groups) > 5:
        parts.append(f"{len(groups) - 5} more kinds")
    return f"{failed} of {total} runs failed: " + "; ".join(parts)


async def finish(conn: AsyncConnection, job_id: str, now: datetime) -> JobStatus | None:
    """open → completed, or failed when every run failed; None when the job is not open or
    still has an active run (checked in this transaction)."""
    current = await status(conn, job_id)
    if current not in _OPEN or await run_reads.has_active(conn, job_id):
        return None
    counts = await run_reads.status_counts(conn, job_id)
    total = sum(counts.values())
    failed = counts.get("failed", 0)
    outcome = JobStatus.FAILED if total and failed == total else JobStatus.COMPLETED
    error = None
    if outcome is JobStatus.FAILED:
        error = failure_text(await run_reads.failure_summary(conn, job_id), total)
    moved = await conn.execute(
        update(batch_jobs)
        .where(batch_jobs.c.id == job_id, batch_jobs.c.status.in_(_OPEN))
        .values(status=outcome.value, finished_at=now, updated_at=now, error=error)
    )
    return outcome if moved.rowcount else None


@dataclass(frozen=True)
class Cancelled:
    """What a cancel left for the providers: batches they already have."""

    to_cancel: list[Any]  # (id, provider, external_id)


async def cancel(
    conn: AsyncConnection, org_id: str | None, job_id: str, now: datetime
) -> Cancelled | str | None:
    """open → cancelled, with its active runs, unapplied items and open provider batches.
    None when there is no such job (in this org); the status when it had already ended."""
    query = select(batch_jobs.c.status).where(batch_jobs.c.id == job_id)
    if org_id is not None:
        query = query.where(batch_jobs.c.org_id == org_id)
    row = (await conn.execute(query.with_for_update())).first()
    if row is None:
        return None
    if row.status in {s.value for s in JOB_TERMINAL}:
        return str(row.status)
    moved = await conn.execute(
        update(batch_jobs)
        .where(batch_jobs.c.id == job_id, batch_jobs.c.status.in_(_OPEN))
        .values(status=JobStatus.CANCELLED.value, finished_at=now, updated_at=now)
    )
    if not moved.rowcount:
        return str(await status(conn, job_id))
    await runs.cancel_for_job(conn, job_id, now)
    await items.settle_for_job_cancel(conn, job_id, now)
    return Cancelled(await provider_batches.cancel_for_job(conn, job_id, now))
