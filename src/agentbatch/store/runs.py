"""Runs: the only module that changes a run's status.

Transitions: ``claim`` (queued → leased, the fence grows), ``record`` (queued under this
claim → waiting_model, in the submission transaction), ``fail_claimed`` / ``release``
(a claim given up), the apply pass's ``write_ops`` (checked against the run's head in the
same transaction), ``cancel_for_job``, and ``claim_waiting_model`` + ``supersede_statement``
(a step waiting on a late batch sent again live). Each names the
state it expects; rows that moved on are skipped and reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.statuses import RUN_ACTIVE, JobStatus, RunStatus
from agentbatch.store.bulk import Op, run_guarded, to_driver, update_ops
from agentbatch.store.fenced import Statement, fenced_update
from agentbatch.store.leases import claim_rows, lease_free
from agentbatch.store.rows import ClaimedRun, ReadyGroup
from agentbatch.store.tables import batch_jobs, runs

_CHUNK = 2000
_ACTIVE = [s.value for s in RUN_ACTIVE]
_OPEN_JOBS = [JobStatus.CREATED.value, JobStatus.RUNNING.value]

_CLAIMED_COLUMNS = (
    runs.c.id,
    runs.c.job_id,
    runs.c.agent_id,
    runs.c.step,
    runs.c.attempt,
    runs.c.solver_state,
    runs.c.pending_messages,
    runs.c.fence,
)


async def ready_groups(conn: AsyncConnection, now: datetime) -> list[ReadyGroup]:
    """(job, model, count, oldest) of due queued runs, found through the open jobs (the
    ``(job_id, status)`` index), never a scan of all runs."""
    open_jobs = select(batch_jobs.c.id).where(batch_jobs.c.status.in_(_OPEN_JOBS))
    rows = await conn.execute(
        select(runs.c.job_id, runs.c.model, func.count(), func.min(runs.c.updated_at))
        .where(
            runs.c.job_id.in_(open_jobs),
            runs.c.status == RunStatus.QUEUED.value,
            runs.c.not_before <= now,
            lease_free(runs, now),
        )
        .group_by(runs.c.job_id, runs.c.model)
    )
    return [ReadyGroup(*row) for row in rows]


async def claim(
    conn: AsyncConnection,
    *,
    job_id: str,
    model: str,
    owner: str,
    now: datetime,
    until: datetime,
    limit: int,
    skip_locked: bool,
) -> list[ClaimedRun]:
    candidates = (
        select(runs.c.id)
        .where(
            runs.c.job_id == job_id,
            runs.c.model == model,
            runs.c.status == RunStatus.QUEUED.value,
            runs.c.not_before <= now,
            lease_free(runs, now),
        )
        .order_by(runs.c.id)
        .limit(limit)
    )
    rows = await claim_rows(conn, runs, candidates, owner, until, skip_locked, _CLAIMED_COLUMNS)
    return sorted((ClaimedRun(*r) for r in rows), key=lambda r: r.id)


async def renew(
    conn: AsyncConnection, run_id: str, owner: str, fence: int, until: datetime
) -> bool:
    result = await conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.lease_owner == owner, runs.c.fence == fence)
        .values(lease_expires=until)
    )
    return bool(result.rowcount)


def record_statement(
    dialect: str, owner: str, now: datetime, claims: Sequence[tuple[str, int, str]]
) -> Statement:
    """queued (under ``owner``'s claim with that fence) → waiting_model on ``item``, for
    ``claims`` = (run id, fence, item id). Returns the runs that moved."""
    return fenced_update(
        dialect,
        "runs",
        set_sql=(
            "status = 'waiting_model', current_item_id = v.x0, pending_messages = NULL, "
            "lease_owner = NULL, lease_expires = NULL, updated_at = :p0"
        ),
        where_sql="runs.status = 'queued' AND runs.lease_owner = :p1",
        values=claims,
        extra_types=("varchar",),
        params=(to_driver(runs, "updated_at", now, dialect), owner),
    )


def supersede_statement(
    dialect: str, owner: str, now: datetime, claims: Sequence[tuple[str, int, str, str]]
) -> Statement:
    """waiting_model on item ``old`` (under ``owner``'s claim) → waiting_model on item
    ``new``: the step is sent again live, and the old item's result, should it come, is
    no longer the run's and is ignored. ``claims`` = (run id, fence, new item, old item)."""
    return fenced_update(
        dialect,
        "runs",
        set_sql=(
            "current_item_id = v.x0, lease_owner = NULL, lease_expires = NULL, updated_at = :p0"
        ),
        where_sql=(
            "runs.status = 'waiting_model' AND runs.lease_owner = :p1 "
            "AND runs.current_item_id = v.x1"
        ),
        values=claims,
        extra_types=("varchar", "varchar"),
        params=(to_driver(runs, "updated_at", now, dialect), owner),
    )


async def claim_waiting_model(
    conn: AsyncConnection,
    run_ids: Sequence[str],
    *,
    owner: str,
    now: datetime,
    until: datetime,
) -> list[ClaimedRun]:
    """Lease runs still waiting on a model answer (to send their step again live); the
    fence grows. Rows leased by another worker or no longer waiting are skipped."""
    if not run_ids:
        return []
    result = await conn.execute(
        update(runs)
        .where(
            runs.c.id.in_(list(run_ids)),
            runs.c.status == RunStatus.WAITING_MODEL.value,
            lease_free(runs, now),
        )
        .values(lease_owner=owner, lease_expires=until, fence=runs.c.fence + 1)
        .returning(*_CLAIMED_COLUMNS)
    )
    return sorted((ClaimedRun(*r) for r in result.all()), key=lambda r: r.id)


async def fail_claimed(
    conn: AsyncConnection,
    owner: str,
    claims: Sequence[tuple[str, int]],
    *,
    error: str,
    kind: str,
    now: datetime,
    stop_reason: str = "error",
) -> set[str]:
    """Claimed runs that cannot be sent fail (only while still queued under this claim)."""
    if not claims:
        return set()
    dialect = conn.dialect.name
    stamp = to_driver(runs, "updated_at", now, dialect)
    statement = fenced_update(
        dialect,
        "runs",
        set_sql=(
            "status = 'failed', last_error = :p0, error_kind = :p1, stop_reason = :p4, "
            "finished_at = :p2, updated_at = :p2, lease_owner = NULL, lease_expires = NULL"
        ),
        where_sql="runs.status = 'queued' AND runs.lease_owner = :p3",
        values=claims,
        params=(error, kind, stamp, owner, stop_reason),
    )
    return await run_guarded(conn, statement, ()) or set()


async def release(
    conn: AsyncConnection,
    owner: str,
    claims: Sequence[tuple[str, int]],
    status: str = RunStatus.QUEUED.value,
) -> None:
    """Give claims back (still in ``status``, lease cleared) so any worker may take them."""
    if claims:
        statement = fenced_update(
            conn.dialect.name,
            "runs",
            set_sql="lease_owner = NULL, lease_expires = NULL",
            where_sql="runs.status = :p1 AND runs.lease_owner = :p0",
            values=claims,
            params=(owner, status),
        )
        await run_guarded(conn, statement, ())


def write_ops(rows: Sequence[dict[str, Any]], dialect: str) -> list[Op]:
    """The apply pass's run updates (each row: ``b_id`` plus the columns it sets); the
    caller has checked every run's head in the same transaction."""
    return update_ops(runs, rows, dialect)


async def cancel_for_job(conn: AsyncConnection, job_id: str, now: datetime) -> int:
    result = await conn.execute(
        update(runs)
        .where(runs.c.job_id == job_id, runs.c.status.in_(_ACTIVE))
        .values(
            status=RunStatus.CANCELLED.value,
            stop_reason="cancelled",
            finished_at=now,
            updated_at=now,
            lease_owner=None,
            lease_expires=None,
            fence=runs.c.fence + 1,
        )
    )
    return int(result.rowcount or 0)
