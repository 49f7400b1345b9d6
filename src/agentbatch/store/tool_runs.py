"""Runs whose step waits for tools that run outside the apply transaction: claimed by a
worker's tool pass (each claim counts a tool attempt), or failed when the step cannot
resume."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.statuses import JobStatus, RunStatus
from agentbatch.store.leases import lease_free
from agentbatch.store.rows import ToolRun
from agentbatch.store.tables import batch_jobs, runs

_OPEN_JOBS = [JobStatus.CREATED.value, JobStatus.RUNNING.value]


async def claim_waiting_tools(
    conn: AsyncConnection,
    *,
    owner: str,
    now: datetime,
    until: datetime,
    limit: int,
    skip_locked: bool,
) -> list[ToolRun]:
    """Lease runs whose step waits for its tools; each claim counts a tool attempt."""
    open_jobs = select(batch_jobs.c.id).where(batch_jobs.c.status.in_(_OPEN_JOBS))
    candidates = (  # through the open jobs (the (job_id, status) index), never a scan
        select(runs.c.id)
        .where(
            runs.c.job_id.in_(open_jobs),
            runs.c.status == RunStatus.WAITING_TOOLS.value,
            lease_free(runs, now),
        )
        .order_by(runs.c.updated_at)
        .limit(limit)
    )
    if skip_locked:
        candidates = candidates.with_for_update(skip_locked=True)
    result = await conn.execute(
        update(runs)
        .where(runs.c.id.in_(candidates.scalar_subquery()))
        .values(
            lease_owner=owner,
            lease_expires=until,
            fence=runs.c.fence + 1,
            tool_attempts=runs.c.tool_attempts + 1,
        )
        .returning(
            runs.c.id,
            runs.c.job_id,
            runs.c.agent_id,
            runs.c.current_item_id,
            runs.c.fence,
            runs.c.tool_attempts,
        )
    )
    return [ToolRun(*r) for r in result.all()]


async def fail_waiting_tools(
    conn: AsyncConnection, run_id: str, owner: str, fence: int, *, error: str, now: datetime
) -> bool:
    """waiting_tools (under this claim) → failed: the step cannot resume."""
    result = await conn.execute(
        update(runs)
        .where(
            runs.c.id == run_id,
            runs.c.status == RunStatus.WAITING_TOOLS.value,
            runs.c.lease_owner == owner,
            runs.c.fence == fence,
        )
        .values(
            status=RunStatus.FAILED.value,
            last_error=error,
            error_kind="apply",
            stop_reason="error",
            finished_at=now,
            updated_at=now,
            lease_owner=None,
            lease_expires=None,
        )
    )
    return bool(result.rowcount)
