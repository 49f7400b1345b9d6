"""Runs whose step waits for tools that run outside the apply transaction: found per
organisation and claimed by a worker's tool pass (each claim counts a tool attempt), or
failed when the step cannot resume."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.statuses import JobStatus, RunStatus
from agentbatch.store.leases import lease_free
from agentbatch.store.rows import ToolCandidate, ToolRun
from agentbatch.store.tables import batch_jobs, runs

_OPEN_JOBS = [JobStatus.CREATED.value, JobStatus.RUNNING.value]


async def waiting_tool_candidates(
    conn: AsyncConnection, *, now: datetime, per_org: int
) -> list[ToolCandidate]:
    """Runs whose step waits for its tools, with a free lease: the oldest ``per_org`` of
    each organisation, oldest first. Found through the open jobs (the ``(job_id,
    status)`` index), never a scan of all runs; one organisation's backlog never hides
    another's runs (the tool pass picks among them, then ``claim_waiting_tools``)."""
    open_jobs = select(batch_jobs.c.id).where(batch_jobs.c.status.in_(_OPEN_JOBS))
    rank = (
        func.row_number()
        .over(partition_by=runs.c.org_id, order_by=(runs.c.updated_at, runs.c.id))
        .label("rank")
    )
    waiting = (
        select(runs.c.id, runs.c.org_id, runs.c.updated_at, rank)
        .where(
            runs.c.job_id.in_(open_jobs),
            runs.c.status == RunStatus.WAITING_TOOLS.value,
            lease_free(runs, now),
        )
        .subquery()
    )
    rows = await conn.execute(
        select(waiting.c.id, waiting.c.org_id)
        .where(waiting.c.rank <= per_org)
        .order_by(waiting.c.updated_at, waiting.c.id)
    )
    return [ToolCandidate(*r) for r in rows]


async def claim_waiting_tools(
    conn: AsyncConnection,
    run_ids: Sequence[str],
    *,
    owner: str,
    now: datetime,
    until: datetime,
) -> list[ToolRun]:
    """Lease these runs while their step still waits for its tools and no other worker
    holds them; the fence grows and each claim counts a tool attempt. Runs that moved on
    or were taken meanwhile are skipped."""
    if not run_ids:
        return []
    result = await conn.execute(
        update(runs)
        .where(
            runs.c.id.in_(list(run_ids)),
            runs.c.status == RunStatus.WAITING_TOOLS.value,
            lease_free(runs, now),
        )
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
            runs.c.org_id,
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
