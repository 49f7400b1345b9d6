"""Find objects the way people type them: a whole id, a unique id prefix, or (agents) a name.

Every query is scoped to the organisation; a prefix matches with ``LIKE 'prefix%'`` on the
primary key (an index range scan), escaped so ``%`` and ``_`` in the input match literally."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.store.tables import agents, batch_jobs, blocks, runs

TABLES: dict[str, Table] = {"agent": agents, "job": batch_jobs, "block": blocks}


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def ids_matching(
    conn: AsyncConnection, kind: str, org_id: str | None, ref: str, limit: int = 3
) -> list[str]:
    """Ids of this kind equal to ``ref``, else starting with it (at most ``limit``)."""
    table = TABLES[kind]
    scope = [table.c.org_id == org_id] if org_id is not None else []
    exact = await conn.execute(select(table.c.id).where(table.c.id == ref, *scope))
    if exact.first() is not None:
        return [ref]
    rows = await conn.execute(
        select(table.c.id)
        .where(table.c.id.like(_like_prefix(ref), escape="\\"), *scope)
        .order_by(table.c.id)
        .limit(limit)
    )
    return [r.id for r in rows]


async def agents_named(
    conn: AsyncConnection, org_id: str, names: Sequence[str]
) -> dict[str, list[str]]:
    """name -> ids of this organisation's agents with that name (names repeat: a list)."""
    out: dict[str, list[str]] = {}
    unique = sorted(set(names))
    for start in range(0, len(unique), 5000):
        rows = await conn.execute(
            select(agents.c.id, agents.c.name)
            .where(agents.c.org_id == org_id, agents.c.name.in_(unique[start : start + 5000]))
            .order_by(agents.c.id)
        )
        for row in rows:
            out.setdefault(row.name, []).append(row.id)
    return out


async def existing_agent_ids(conn: AsyncConnection, org_id: str, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    unique = sorted(set(ids))
    for start in range(0, len(unique), 5000):
        rows = await conn.execute(
            select(agents.c.id).where(
                agents.c.org_id == org_id, agents.c.id.in_(unique[start : start + 5000])
            )
        )
        found.update(r.id for r in rows)
    return found


async def agents_in_job(conn: AsyncConnection, job_id: str, agent_ids: Sequence[str]) -> list[str]:
    """Which of these agents have a run in the job (ordered)."""
    if not agent_ids:
        return []
    rows = await conn.execute(
        select(runs.c.agent_id)
        .where(runs.c.job_id == job_id, runs.c.agent_id.in_(sorted(set(agent_ids))[:1000]))
        .distinct()
        .order_by(runs.c.agent_id)
    )
    return [r.agent_id for r in rows]
