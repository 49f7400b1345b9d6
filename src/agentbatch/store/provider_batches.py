"""Provider batches: the only module that changes a provider batch's status or cleanup.

Lifecycle (``status``): ``submitting`` (recorded, create in flight under a lease) →
``in_progress`` (``accept``: the provider has it) → ``ingested``; or → ``failed``
(``fail_creation``, ``abandon``: the creating worker died or stalled past its lease) or
``canceled`` (the job was cancelled). Those three are final: nothing moves a batch back.
A ``live`` batch (its calls made through the live API) goes ``submitting`` → ``ingested``
once their results were applied (``finish_live``).

Provider-side work that outlives the status is tracked apart in ``cleanup``: ``lookup``
(a create may have happened but was never recorded: find it by its tag and cancel it),
``pending`` (cancel it at the provider, follow it to its end, record what it returns as
ignored, delete its files), ``done``.

Every transition names the lease owner and fence it holds (or the status it expects) and
returns whether the row moved; a writer whose row moved on gives up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.statuses import BatchStatus
from agentbatch.store.leases import claim_rows, lease_free
from agentbatch.store.rows import LeasedBatch
from agentbatch.store.tables import provider_batches as pb

LIVE = "live"  # a provider batch answered through the provider's live API
SUBMITTING = BatchStatus.SUBMITTING.value
IN_PROGRESS = BatchStatus.IN_PROGRESS.value
LEASED_COLUMNS = (
    pb.c.id,
    pb.c.job_id,
    pb.c.provider,
    pb.c.model,
    pb.c.external_id,
    pb.c.status,
    pb.c.poll_count,
    pb.c.fence,
    pb.c.created_at,
    pb.c.request_count,
    pb.c.error,
    pb.c.cleanup,
    pb.c.ended_at,
)


def _lookup_unless_live() -> Any:
    """A create may have happened unrecorded: look it up (a live batch has nothing there)."""
    return case((pb.c.kind == LIVE, "done"), else_="lookup")


def mine(batch_id: str, owner: str, fence: int) -> Any:
    return and_(pb.c.id == batch_id, pb.c.lease_owner == owner, pb.c.fence == fence)


async def moved(conn: AsyncConnection, statement: Any) -> bool:
    return bool((await conn.execute(statement)).rowcount)


async def renew(
    conn: AsyncConnection, batch_id: str, owner: str, fence: int, until: datetime
) -> bool:
    """Extend this worker's lease (whatever the status: a create in flight for a batch
    that was cancelled meanwhile still holds it); False when the lease was taken over."""
    return await moved(
        conn, update(pb).where(mine(batch_id, owner, fence)).values(lease_expires=until)
    )


async def accept(
    conn: AsyncConnection,
    batch_id: str,
    owner: str,
    fence: int,
    *,
    handle: str,
    now: datetime,
    next_poll_at: datetime,
) -> bool:
    """submitting → in_progress: the provider accepted the batch under this claim."""
    return await moved(
        conn,
        update(pb)
        .where(mine(batch_id, owner, fence), pb.c.status == SUBMITTING)
        .values(
            status=IN_PROGRESS,
            external_id=handle,
            submitted_at=now,
            next_poll_at=next_poll_at,
            lease_owner=None,
            lease_expires=None,
        ),
    )


async def finish_live(
    conn: AsyncConnection,
    batch_id: str,
    owner: str,
    fence: int,
    *,
    started_at: datetime,
    now: datetime,
) -> bool:
    """submitting → ingested: a live batch's results were applied (``submitted_at`` ..
    ``ended_at`` is how long its calls took)."""
    return await moved(
        conn,
        update(pb)
        .where(mine(batch_id, owner, fence), pb.c.status == SUBMITTING, pb.c.kind == LIVE)
        .values(
            status=BatchStatus.INGESTED.value,
            external_id=f"live:{batch_id}",
            submitted_at=started_at,
            ended_at=now,
            polled_at=now,
            cleanup="done",
            lease_owner=None,
            lease_expires=None,
        ),
    )


async def fail_creation(
    conn: AsyncConnection, batch_id: str, owner: str, fence: int, *, error: str, now: datetime
) -> bool:
    """submitting → failed: the provider refused the create (under this claim). A try
    whose answer was lost may have created it after all: the cleanup pass looks."""
    return await moved(
        conn,
        update(pb)
        .where(mine(batch_id, owner, fence), pb.c.status == SUBMITTING)
        .values(
            status=BatchStatus.FAILED.value,
            error=error,
            ended_at=now,
            lease_owner=None,
            lease_expires=None,
            cleanup=_lookup_unless_live(),
            next_poll_at=now,
        ),
    )


async def stale_submitting(conn: AsyncConnection, now: datetime, limit: int = 50) -> list[Any]:
    rows = await conn.execute(
        select(pb.c.id, pb.c.fence)
        .where(pb.c.status == SUBMITTING, lease_free(pb, now))
        .order_by(pb.c.id)
        .limit(limit)
    )
    return list(rows.all())


async def abandon(
    conn: AsyncConnection, batch_id: str, fence: int, *, error: str, now: datetime
) -> bool:
    """submitting → failed when its creator's lease expired (dead or stalled worker). If
    the create happened after all, the creator's ``accept`` fails and it cancels the
    provider batch; if it died after the create, ``cleanup = 'lookup'`` finds it."""
    return await moved(
        conn,
        update(pb)
        .where(
            pb.c.id == batch_id,
            pb.c.fence == fence,
            pb.c.status == SUBMITTING,
            lease_free(pb, now),
        )
        .values(
            status=BatchStatus.FAILED.value,
            error=error,
            ended_at=now,
            lease_owner=None,
            lease_expires=None,
            fence=pb.c.fence + 1,
            cleanup=_lookup_unless_live(),
            next_poll_at=now,
        ),
    )


async def claim_due(
    conn: AsyncConnection,
    *,
    owner: str,
    now: datetime,
    until: datetime,
    limit: int,
    skip_locked: bool,
) -> list[LeasedBatch]:
    candidates = (
        select(pb.c.id)
        .where(pb.c.status == IN_PROGRESS, pb.c.next_poll_at <= now, lease_free(pb, now))
        .order_by(pb.c.next_poll_at)
        .limit(limit)
    )
    rows = await claim_rows(conn, pb, candidates, owner, until, skip_locked, LEASED_COLUMNS)
    return [LeasedBatch(*r) for r in rows]


async def reschedule(conn: AsyncConnection, batch: LeasedBatch, owner: str, **values: Any) -> bool:
    """Still in progress: the next poll time (and what the poll saw); lease released."""
    return await moved(
        conn,
        update(pb)
        .where(mine(batch.id, owner, batch.fence), pb.c.status == IN_PROGRESS)
        .values(lease_owner=None, lease_expires=None, **values),
    )


async def mark_ingested(
    conn: AsyncConnection,
    batch: LeasedBatch,
    owner: str,
    *,
    now: datetime,
    error: str | None,
) -> bool:
    """in_progress → ingested once every result was applied; its files wait for cleanup."""
    return await moved(
        conn,
        update(pb)
        .where(mine(batch.id, owner, batch.fence), pb.c.status == IN_PROGRESS)
        .values(
            status=BatchStatus.INGESTED.value,
            ended_at=now,
            polled_at=now,
            error=error,
            lease_owner=None,
            lease_expires=None,
            cleanup="pending",
            next_poll_at=now,
        ),
    )


async def cancel_for_job(conn: AsyncConnection, job_id: str, now: datetime) -> list[Any]:
    """The job's open batches → canceled. One being created keeps its creator's lease (the
    creator cancels what it creates); every one is left for the cleanup pass. Returns
    (id, provider, external_id) of those the provider already has."""
    open_rows = (
        await conn.execute(
            select(pb.c.id, pb.c.provider, pb.c.external_id, pb.c.status).where(
                pb.c.job_id == job_id, pb.c.status.in_([SUBMITTING, IN_PROGRESS])
            )
        )
    ).all()
    creating = [r.id for r in open_rows if r.status == SUBMITTING]
    sent = [r.id for r in open_rows if r.status == IN_PROGRESS]
    canceled = BatchStatus.CANCELED.value
    if creating:
        await conn.execute(
            update(pb)
            .where(pb.c.id.in_(creating), pb.c.status == SUBMITTING)
            .values(status=canceled, ended_at=now, cleanup=_lookup_unless_live(), next_poll_at=now)
        )
    if sent:
        await conn.execute(
            update(pb)
            .where(pb.c.id.in_(sent), pb.c.status == IN_PROGRESS)
            .values(
                status=canceled,
                ended_at=now,
                cleanup="pending",
                next_poll_at=now,
                lease_owner=None,
                lease_expires=None,
                fence=pb.c.fence + 1,
            )
        )
    return [r for r in open_rows if r.status == IN_PROGRESS and r.external_id]
