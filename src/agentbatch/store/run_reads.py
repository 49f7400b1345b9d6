"""Runs as the runtime reads them: states for an apply chunk, heads to check a plan
against, and what a finishing job needs (active runs, counts, failures by kind)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.statuses import RUN_ACTIVE, RunStatus
from agentbatch.store.in_list import in_ids
from agentbatch.store.rows import FailureGroup, RunState
from agentbatch.store.tables import runs

_CHUNK = 2000
_ACTIVE = [s.value for s in RUN_ACTIVE]

# RunState's fields, in order: SQLAlchemy processes every column it reads (datetimes
# parsed, JSON decoded), so the step cycle reads no more than it needs
STATE_COLUMNS = (
    runs.c.id,
    runs.c.job_id,
    runs.c.agent_id,
    runs.c.status,
    runs.c.step,
    runs.c.attempt,
    runs.c.current_item_id,
    runs.c.solver_state,
    runs.c.reply,
    runs.c.input_tokens,
    runs.c.output_tokens,
    runs.c.cache_read_tokens,
    runs.c.cache_write_tokens,
    runs.c.summary_steps,
    runs.c.evicted_messages,
    runs.c.context_tokens,
)


HEADS_CHECK_SQLITE = (
    "SELECT count(*) FROM runs WHERE status = 'waiting_model' AND (id, current_item_id, step) "
    "IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
    "json_extract(value, '$[2]') FROM json_each(?))"
)


async def load_states(
    conn: AsyncConnection, run_ids: Iterable[str], lock: bool
) -> dict[str, RunState]:
    out: dict[str, RunState] = {}
    ids = sorted(set(run_ids))
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(*STATE_COLUMNS)
            .where(in_ids(runs.c.id, ids[start : start + _CHUNK], conn.dialect.name))
            .order_by(runs.c.id)
        )
        if lock:
            query = query.with_for_update()
        rows: Any = await conn.execute(query)
        out.update((r.id, RunState(*r)) for r in rows)
    return out


async def heads(
    conn: AsyncConnection, run_ids: Iterable[str], lock: bool
) -> dict[str, tuple[str, str | None, int]]:
    """(status, current item, step) per run, locked when asked."""
    out: dict[str, tuple[str, str | None, int]] = {}
    ids = sorted(set(run_ids))
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(runs.c.id, runs.c.status, runs.c.current_item_id, runs.c.step)
            .where(in_ids(runs.c.id, ids[start : start + _CHUNK], conn.dialect.name))
            .order_by(runs.c.id)
        )
        if lock:
            query = query.with_for_update()
        out.update((r.id, (r.status, r.current_item_id, r.step)) for r in await conn.execute(query))
    return out


async def has_active(conn: AsyncConnection, job_id: str) -> bool:
    found = await conn.execute(
        select(runs.c.id).where(runs.c.job_id == job_id, runs.c.status.in_(_ACTIVE)).limit(1)
    )
    return found.first() is not None


async def failure_summary(conn: AsyncConnection, job_id: str) -> list[FailureGroup]:
    """Failed runs grouped by error kind, most frequent first, one example each."""
    rows = await conn.execute(
        select(runs.c.error_kind, func.count(), func.min(runs.c.last_error))
        .where(runs.c.job_id == job_id, runs.c.status == RunStatus.FAILED.value)
        .group_by(runs.c.error_kind)
    )
    merged: dict[str, FailureGroup] = {}
    for kind, n, example in rows:
        name = kind or "error"
        seen = merged.get(name)
        count = int(n) + (seen.count if seen else 0)
        merged[name] = FailureGroup(name, count, (seen.example if seen else example) or "")
    groups = list(merged.values())
    return sorted(groups, key=lambda g: (-g.count, g.kind))


async def status_counts(conn: AsyncConnection, job_id: str) -> dict[str, int]:
    rows = await conn.execute(
        select(runs.c.status, func.count()).where(runs.c.job_id == job_id).group_by(runs.c.status)
    )
    return {status: int(n) for status, n in rows}
