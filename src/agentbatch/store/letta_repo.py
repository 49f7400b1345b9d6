"""Reads for the Letta-compatible API: jobs and job messages in Letta's orderings (newest
first by default, ``after`` continuing in the chosen order), messages with the batch item
that produced them, and an agent's in-context message ids."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.store.tables import batch_items, batch_jobs, messages

Order = Literal["asc", "desc"]


async def list_jobs(
    conn: AsyncConnection,
    org_id: str,
    *,
    order: Order,
    after: str | None,
    before: str | None,
    limit: int,
) -> list[Any]:
    desc = order == "desc"
    key = (batch_jobs.c.created_at, batch_jobs.c.id)
    query = select(batch_jobs).where(batch_jobs.c.org_id == org_id)
    query = query.order_by(*(k.desc() for k in key) if desc else key).limit(limit)
    for cursor, later in ((after, not desc), (before, desc)):
        if cursor is None:
            continue
        ref = (
            await conn.execute(
                select(batch_jobs.c.created_at).where(
                    batch_jobs.c.id == cursor, batch_jobs.c.org_id == org_id
                )
            )
        ).first()
        if ref is None:
            continue
        at = ref.created_at
        if later:
            query = query.where(or_(key[0] > at, and_(key[0] == at, key[1] > cursor)))
        else:
            query = query.where(or_(key[0] < at, and_(key[0] == at, key[1] < cursor)))
    return list((await conn.execute(query)).all())


def _item_of_message() -> Any:
    """The batch item that a message belongs to: the applied attempt of its run's step
    (else the latest one)."""
    return (
        select(batch_items.c.id)
        .where(batch_items.c.run_id == messages.c.run_id, batch_items.c.step == messages.c.step)
        .order_by(  # the step's own item before a summary step's at the same step
            batch_items.c.kind.is_not(None),
            batch_items.c.applied.desc(),
            batch_items.c.attempt.desc(),
        )
        .limit(1)
        .correlate(messages)
        .scalar_subquery()
    )


async def job_messages(
    conn: AsyncConnection,
    job_id: str,
    *,
    agent_id: str | None,
    order: Order,
    after: int | None,
    before: int | None,
    limit: int,
) -> list[Any]:
    desc = order == "desc"
    query = (
        select(messages, _item_of_message().label("batch_item_id"))
        .where(messages.c.job_id == job_id)
        .order_by(messages.c.id.desc() if desc else messages.c.id)
        .limit(limit)
    )
    if agent_id:
        query = query.where(messages.c.agent_id == agent_id)
    if after is not None:
        query = query.where(messages.c.id < after if desc else messages.c.id > after)
    if before is not None:
        query = query.where(messages.c.id > before if desc else messages.c.id < before)
    return list((await conn.execute(query)).all())


async def in_context_ids(conn: AsyncConnection, agent_ids: list[str]) -> dict[str, list[int]]:
    rows = await conn.execute(
        select(messages.c.agent_id, messages.c.id)
        .where(messages.c.agent_id.in_(agent_ids), messages.c.in_context.is_(True))
        .order_by(messages.c.agent_id, messages.c.id)
    )
    out: dict[str, list[int]] = {a: [] for a in agent_ids}
    for row in rows:
        out[row.agent_id].append(row.id)
    return out
