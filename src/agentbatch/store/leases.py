"""Leases on rows (runs, provider batches): free when unset or expired; a claim sets the
owner and expiry and grows the row's fencing token, in one statement."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncConnection


def lease_free(table: Any, now: datetime) -> Any:
    return or_(table.c.lease_expires.is_(None), table.c.lease_expires < now)


async def claim_rows(
    conn: AsyncConnection,
    table: Any,
    candidates: Any,
    owner: str,
    until: datetime,
    skip_locked: bool,
    returning: tuple[Any, ...],
) -> list[Any]:
    """Lease the candidate rows to ``owner`` until ``until`` and grow their fence; on
    PostgreSQL rows another worker is claiming right now are skipped (SKIP LOCKED)."""
    if skip_locked:
        candidates = candidates.with_for_update(skip_locked=True)
    result = await conn.execute(
        update(table)
        .where(table.c.id.in_(candidates.scalar_subquery()))
        .values(lease_owner=owner, lease_expires=until, fence=table.c.fence + 1)
        .returning(*returning)
    )
    return list(result.all())
