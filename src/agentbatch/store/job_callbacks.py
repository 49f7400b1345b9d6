"""The job callback outbox: a finished job whose ``callback_status`` is ``pending``. Each
delivery claims the row (``callback_next_at`` moves ahead in a conditional UPDATE), so two
workers never deliver the same attempt at once; the outcome is recorded only while the
callback is still pending."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.statuses import JOB_TERMINAL
from agentbatch.store.tables import batch_jobs

_TERMINAL = [s.value for s in JOB_TERMINAL]


def _due(now: datetime) -> Any:
    return (
        batch_jobs.c.callback_status == "pending",
        batch_jobs.c.status.in_(_TERMINAL),
        or_(batch_jobs.c.callback_next_at.is_(None), batch_jobs.c.callback_next_at <= now),
    )


async def due(conn: AsyncConnection, now: datetime, limit: int) -> list[str]:
    rows = await conn.execute(
        select(batch_jobs.c.id)
        .where(*_due(now))
        .order_by(batch_jobs.c.finished_at, batch_jobs.c.id)
        .limit(limit)
    )
    return list(rows.scalars())


async def claim(conn: AsyncConnection, job_id: str, now: datetime, until: datetime) -> int | None:
    """Take the row for one delivery until ``until``; the attempt number, or None when it
    is not due (delivered, or claimed by another worker since it was listed)."""
    result = await conn.execute(
        update(batch_jobs)
        .where(batch_jobs.c.id == job_id, *_due(now))
        .values(callback_next_at=until)
    )
    if result.rowcount != 1:
        return None
    done = await conn.execute(
        select(batch_jobs.c.callback_attempts).where(batch_jobs.c.id == job_id)
    )
    return int(done.scalar_one() or 0) + 1


async def record(
    conn: AsyncConnection,
    job_id: str,
    *,
    attempt: int,
    error: str | None,
    status: str,
    next_at: datetime | None,
) -> bool:
    """The attempt's outcome (``status``: pending, delivered or failed), while pending."""
    result = await conn.execute(
        update(batch_jobs)
        .where(batch_jobs.c.id == job_id, batch_jobs.c.callback_status == "pending")
        .values(
            callback_attempts=attempt,
            callback_error=error,
            callback_status=status,
            callback_next_at=next_at,
        )
    )
    return bool(result.rowcount)
