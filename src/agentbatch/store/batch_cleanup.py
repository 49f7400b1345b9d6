"""Provider-side cleanup of provider batches: the ``cleanup`` column's transitions (see
``store.provider_batches`` for the lifecycle). ``lookup``: a create may have happened
without being recorded; ``pending``: cancel at the provider, follow to the end, delete
files; ``done``. Each is claimed with a lease and moves only under it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.store.leases import claim_rows, lease_free
from agentbatch.store.provider_batches import LEASED_COLUMNS, mine, moved
from agentbatch.store.rows import LeasedBatch
from agentbatch.store.tables import provider_batches as pb


async def attach_orphan(conn: AsyncConnection, batch_id: str, handle: str, now: datetime) -> bool:
    """A provider batch exists for a row that settled meanwhile (cancelled, abandoned):
    remember it so the cleanup pass cancels it and follows it to its end."""
    return await moved(
        conn,
        update(pb)
        .where(pb.c.id == batch_id, pb.c.external_id.is_(None))
        .values(
            external_id=handle,
            cleanup="pending",
            next_poll_at=now,
            lease_owner=None,
            lease_expires=None,
        ),
    )


async def claim_cleanup(
    conn: AsyncConnection,
    *,
    owner: str,
    now: datetime,
    until: datetime,
    limit: int,
    skip_locked: bool,
) -> list[LeasedBatch]:
    """Batches with provider-side work left whose time has come and whose lease is free
    (a creator still holding one may yet record or cancel what it created)."""
    candidates = (
        select(pb.c.id)
        .where(
            pb.c.cleanup.in_(["lookup", "pending"]),
            or_(pb.c.next_poll_at.is_(None), pb.c.next_poll_at <= now),
            lease_free(pb, now),
        )
        .order_by(pb.c.next_poll_at)
        .limit(limit)
    )
    rows = await claim_rows(conn, pb, candidates, owner, until, skip_locked, LEASED_COLUMNS)
    return [LeasedBatch(*r) for r in rows]


async def set_cleanup(
    conn: AsyncConnection,
    batch: LeasedBatch,
    owner: str,
    *,
    cleanup: str,
    next_poll_at: datetime | None = None,
    external_id: str | None = None,
    provider_status: str | None = None,
) -> bool:
    values: dict[str, Any] = {"cleanup": cleanup, "lease_owner": None, "lease_expires": None}
    if next_poll_at is not None:
        values["next_poll_at"] = next_poll_at
    if external_id is not None:
        values["external_id"] = external_id
    if provider_status is not None:
        values["provider_status"] = provider_status[:32]
    return await moved(conn, update(pb).where(mine(batch.id, owner, batch.fence)).values(**values))


async def cleanup_done(conn: AsyncConnection, batch_id: str) -> None:
    """The provider-side files of an ingested batch are gone (no lease: a cleanup pass
    that raced it finds nothing left to do)."""
    await conn.execute(
        update(pb)
        .where(pb.c.id == batch_id, pb.c.cleanup == "pending", pb.c.lease_owner.is_(None))
        .values(cleanup="done")
    )


async def known_handles(conn: AsyncConnection, provider: str, handles: Iterable[str]) -> set[str]:
    wanted = list(handles)
    if not wanted:
        return set()
    rows = await conn.execute(
        select(pb.c.external_id).where(pb.c.provider == provider, pb.c.external_id.in_(wanted))
    )
    return {r.external_id for r in rows}


async def creates_in_flight(
    conn: AsyncConnection, provider: str, requests: int, now: datetime, *, besides: str
) -> int:
    """Other batches of this provider and size whose create may be in flight (a live
    lease, no handle yet): a provider without batch metadata cannot tell theirs from an
    orphan of the same size."""
    rows = await conn.execute(
        select(pb.c.id).where(
            pb.c.provider == provider,
            pb.c.request_count == requests,
            pb.c.external_id.is_(None),
            pb.c.lease_owner.is_not(None),
            pb.c.lease_expires >= now,
            pb.c.id != besides,
        )
    )
    return len(rows.all())
