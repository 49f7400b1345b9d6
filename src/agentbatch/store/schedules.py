"""Schedules: the only module that changes a schedule's state.

Transitions: ``claim_fire`` (the fire time a worker read → the next one: a conditional
UPDATE naming the schedule's ``next_fire_at`` and ``fence`` as read, so of several
workers that saw the same due fire exactly one moves it, and only that one creates the
fire's job, in the same transaction), ``pause`` (active → paused), ``resume`` (paused →
active with a fresh next fire time) and ``delete``. Each fire is recorded once in
``schedule_fires`` (unique per schedule and fire time)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.store.tables import batch_jobs, schedule_fires, schedules

ACTIVE = "active"
PAUSED = "paused"
_DUE_COLUMNS = (
    schedules.c.id,
    schedules.c.org_id,
    schedules.c.cron,
    schedules.c.timezone,
    schedules.c.target,
    schedules.c.job,
    schedules.c.missed,
    schedules.c.grace_s,
    schedules.c.next_fire_at,
    schedules.c.fence,
)


async def insert_schedule(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(insert(schedules).values(**row))


async def get(conn: AsyncConnection, org_id: str, schedule_id: str) -> Any:
    return (
        await conn.execute(
            select(schedules).where(schedules.c.id == schedule_id, schedules.c.org_id == org_id)
        )
    ).first()


async def list_rows(
    conn: AsyncConnection, org_id: str, *, limit: int, after: str | None
) -> list[Any]:
    query = (
        select(schedules).where(schedules.c.org_id == org_id).order_by(schedules.c.id).limit(limit)
    )
    if after:
        query = query.where(schedules.c.id > after)
    return list((await conn.execute(query)).all())


async def due(conn: AsyncConnection, now: datetime, limit: int) -> list[Any]:
    """Active schedules whose next fire time has come (the ``(status, next_fire_at)``
    index), oldest first."""
    rows = await conn.execute(
        select(*_DUE_COLUMNS)
        .where(schedules.c.status == ACTIVE, schedules.c.next_fire_at <= now)
        .order_by(schedules.c.next_fire_at)
        .limit(limit)
    )
    return list(rows.all())


async def claim_fire(
    conn: AsyncConnection,
    schedule_id: str,
    *,
    read_next: Any,
    fence: int,
    next_fire_at: datetime,
    fired_at: datetime | None,
    now: datetime,
) -> bool:
    """Move the schedule past the fire time ``read_next`` (passed back exactly as it was
    read) to ``next_fire_at``; False when another worker (or a pause) moved it first."""
    values: dict[str, Any] = {
        "next_fire_at": next_fire_at,
        "fence": schedules.c.fence + 1,
        "updated_at": now,
    }
    if fired_at is not None:
        values.update(last_fire_at=fired_at, fires=schedules.c.fires + 1)
    result = await conn.execute(
        update(schedules)
        .where(
            schedules.c.id == schedule_id,
            schedules.c.status == ACTIVE,
            schedules.c.next_fire_at == read_next,
            schedules.c.fence == fence,
        )
        .values(**values)
    )
    return bool(result.rowcount)


async def pause(conn: AsyncConnection, org_id: str, schedule_id: str, now: datetime) -> bool:
    """active → paused (no fire happens while paused)."""
    result = await conn.execute(
        update(schedules)
        .where(
            schedules.c.id == schedule_id,
            schedules.c.org_id == org_id,
            schedules.c.status == ACTIVE,
        )
        .values(status=PAUSED, fence=schedules.c.fence + 1, updated_at=now)
    )
    return bool(result.rowcount)


async def resume(
    conn: AsyncConnection, org_id: str, schedule_id: str, next_fire_at: datetime, now: datetime
) -> bool:
    """paused → active, next firing at ``next_fire_at`` (nothing is owed for the pause)."""
    result = await conn.execute(
        update(schedules)
        .where(
            schedules.c.id == schedule_id,
            schedules.c.org_id == org_id,
            schedules.c.status == PAUSED,
        )
        .values(
            status=ACTIVE,
            next_fire_at=next_fire_at,
            fence=schedules.c.fence + 1,
            updated_at=now,
        )
    )
    return bool(result.rowcount)


async def delete_schedule(conn: AsyncConnection, org_id: str, schedule_id: str) -> bool:
    """Remove the schedule and its fire records (the jobs it created stay)."""
    owned = await get(conn, org_id, schedule_id)
    if owned is None:
        return False
    await conn.execute(delete(schedule_fires).where(schedule_fires.c.schedule_id == schedule_id))
    await conn.execute(delete(schedules).where(schedules.c.id == schedule_id))
    return True


async def insert_fire(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(insert(schedule_fires).values(**row))


async def recent_fires(conn: AsyncConnection, schedule_id: str, limit: int) -> list[Any]:
    """The latest fires, newest first, with their job's status."""
    rows = await conn.execute(
        select(schedule_fires, batch_jobs.c.status.label("job_status"))
        .outerjoin(batch_jobs, batch_jobs.c.id == schedule_fires.c.job_id)
        .where(schedule_fires.c.schedule_id == schedule_id)
        .order_by(schedule_fires.c.fire_at.desc())
        .limit(limit)
    )
    return list(rows.all())


async def fire_totals(conn: AsyncConnection, schedule_ids: list[str]) -> dict[str, tuple[int, int]]:
    """schedule id -> (agents skipped because busy, fire times missed), over all fires."""
    from sqlalchemy import func

    rows = await conn.execute(
        select(
            schedule_fires.c.schedule_id,
            func.coalesce(func.sum(schedule_fires.c.skipped_busy), 0),
            func.coalesce(func.sum(schedule_fires.c.missed), 0),
        )
        .where(schedule_fires.c.schedule_id.in_(schedule_ids))
        .group_by(schedule_fires.c.schedule_id)
    )
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}
