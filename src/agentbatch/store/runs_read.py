"""Runs as users read them: outcome counts, filtered pages in keyset order (for listings
and streaming exports), and an agent's transcript across jobs.

Every page is one bounded query ordered by the primary key and continued with ``id >
after``: an export of 100,000 runs never holds more than one page in memory, and pages do
not shift when rows are added meanwhile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.store.tables import agents, messages, runs

RUN_COLUMNS = (
    runs.c.id,
    runs.c.job_id,
    runs.c.agent_id,
    runs.c.model,
    runs.c.status,
    runs.c.step,
    runs.c.attempt,
    runs.c.stop_reason,
    runs.c.reply,
    runs.c.last_error,
    runs.c.input_tokens,
    runs.c.output_tokens,
    runs.c.cache_read_tokens,
    runs.c.cache_write_tokens,
    runs.c.updated_at,
    runs.c.finished_at,
)


async def outcome_counts(
    conn: AsyncConnection, job_ids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """job id -> {stop reason -> runs}, for runs that ended (a stop reason is set)."""
    out: dict[str, dict[str, int]] = {j: {} for j in job_ids}
    if not job_ids:
        return out
    rows = await conn.execute(
        select(runs.c.job_id, runs.c.stop_reason, func.count())
        .where(runs.c.job_id.in_(list(job_ids)), runs.c.stop_reason.is_not(None))
        .group_by(runs.c.job_id, runs.c.stop_reason)
    )
    for job_id, reason, count in rows:
        out[job_id][str(reason)] = int(count)
    return out


async def run_page(
    conn: AsyncConnection,
    job_id: str,
    *,
    statuses: Sequence[str] = (),
    stop_reasons: Sequence[str] = (),
    after: str | None = None,
    limit: int = 100,
) -> list[Any]:
    """Runs of one job with their agent's name, in id order, after the cursor."""
    query = (
        select(*RUN_COLUMNS, agents.c.name.label("agent_name"))
        .join(agents, agents.c.id == runs.c.agent_id)
        .where(runs.c.job_id == job_id)
        .order_by(runs.c.id)
        .limit(limit)
    )
    if statuses:
        query = query.where(runs.c.status.in_(list(statuses)))
    if stop_reasons:
        query = query.where(runs.c.stop_reason.in_(list(stop_reasons)))
    if after:
        query = query.where(runs.c.id > after)
    return list((await conn.execute(query)).all())


async def count_runs(
    conn: AsyncConnection,
    job_id: str,
    *,
    statuses: Sequence[str] = (),
    stop_reasons: Sequence[str] = (),
    after: str | None = None,
) -> int:
    query = select(func.count()).select_from(runs).where(runs.c.job_id == job_id)
    if statuses:
        query = query.where(runs.c.status.in_(list(statuses)))
    if stop_reasons:
        query = query.where(runs.c.stop_reason.in_(list(stop_reasons)))
    if after:
        query = query.where(runs.c.id > after)
    return int((await conn.execute(query)).scalar_one())


async def input_messages(
    conn: AsyncConnection, job_id: str, agent_ids: Sequence[str]
) -> dict[str, str]:
    """agent id -> the text of its first input message in this job (what it was sent).

    Found through the agents' history index: one page of agents reads only their rows."""
    if not agent_ids:
        return {}
    first = (
        select(func.min(messages.c.id))
        .where(
            messages.c.agent_id.in_(list(agent_ids)),
            messages.c.job_id == job_id,
            messages.c.kind == "input",
        )
        .group_by(messages.c.agent_id)
    )
    rows = await conn.execute(
        select(messages.c.agent_id, messages.c.content).where(messages.c.id.in_(first))
    )
    return {r.agent_id: r.content or "" for r in rows}


async def pending_inputs(conn: AsyncConnection, run_ids: Sequence[str]) -> dict[str, str]:
    """run id -> the text of the input it still holds (a run that ended before its first
    request was built, e.g. failed at prepare, never wrote its input to the history)."""
    if not run_ids:
        return {}
    rows = await conn.execute(
        select(runs.c.id, runs.c.pending_messages).where(
            runs.c.id.in_(list(run_ids)), runs.c.pending_messages.is_not(None)
        )
    )
    out: dict[str, str] = {}
    for row in rows:
        pending = [m for m in row.pending_messages or () if isinstance(m, dict)]
        first = next((m for m in pending if m.get("kind") == "input"), None)
        if first is not None:
            out[row.id] = str(first.get("content") or "")
    return out


async def agent_message_rows(
    conn: AsyncConnection, agent_id: str, *, after: int | None, limit: int
) -> list[Any]:
    """An agent's whole history, every job, in history order."""
    query = (
        select(messages).where(messages.c.agent_id == agent_id).order_by(messages.c.id).limit(limit)
    )
    if after is not None:
        query = query.where(messages.c.id > after)
    return list((await conn.execute(query)).all())


async def count_agent_messages(conn: AsyncConnection, agent_id: str, after: int | None) -> int:
    query = select(func.count()).select_from(messages).where(messages.c.agent_id == agent_id)
    if after is not None:
        query = query.where(messages.c.id > after)
    return int((await conn.execute(query)).scalar_one())
