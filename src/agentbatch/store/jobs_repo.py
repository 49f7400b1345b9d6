"""Batch jobs, runs and messages as users read them (summaries, listings, cancel)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import String, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.statuses import RUN_ACTIVE
from agentbatch.store.in_list import in_ids
from agentbatch.store.tables import batch_jobs, messages, provider_batches, runs

_ACTIVE = [s.value for s in RUN_ACTIVE]


async def agent_has_active_runs(conn: AsyncConnection, agent_id: str) -> bool:
    row = await conn.execute(
        select(runs.c.id).where(runs.c.agent_id == agent_id, runs.c.status.in_(_ACTIVE)).limit(1)
    )
    return row.first() is not None


async def busy_agents(conn: AsyncConnection, agent_ids: Sequence[str]) -> dict[str, str]:
    """agent id -> job id, for agents that already have an active run."""
    busy: dict[str, str] = {}
    for start in range(0, len(agent_ids), 5000):
        chunk = list(agent_ids[start : start + 5000])
        if conn.dialect.name == "postgresql":
            # joined to the ids (one array): an index probe per id, never a scan of every
            # active run (a job built page by page adds thousands of them meanwhile)
            unnest = func.unnest(bindparam("ids", chunk, type_=ARRAY(String)))
            ids = unnest.table_valued("id").render_derived()
            query = select(runs.c.agent_id, runs.c.job_id).join(ids, runs.c.agent_id == ids.c.id)
        else:
            query = select(runs.c.agent_id, runs.c.job_id).where(
                in_ids(runs.c.agent_id, chunk, conn.dialect.name)
            )
        rows = await conn.execute(query.where(runs.c.status.in_(_ACTIVE)))
        busy.update((r.agent_id, r.job_id) for r in rows)
    return busy


async def insert_job(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(batch_jobs).values(**values))


async def insert_runs(conn: AsyncConnection, rows: Iterable[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= 5000:
            await conn.execute(insert(runs), batch)
            batch = []
    if batch:
        await conn.execute(insert(runs), batch)


async def get_job_row(conn: AsyncConnection, org_id: str | None, job_id: str) -> Any:
    query = select(batch_jobs).where(batch_jobs.c.id == job_id)
    if org_id is not None:
        query = query.where(batch_jobs.c.org_id == org_id)
    return (await conn.execute(query)).first()


async def run_counts(conn: AsyncConnection, job_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    rows = await conn.execute(
        select(runs.c.job_id, runs.c.status, func.count())
        .where(runs.c.job_id.in_(list(job_ids)))
        .group_by(runs.c.job_id, runs.c.status)
    )
    out: dict[str, dict[str, int]] = {j: {} for j in job_ids}
    for job_id, status, count in rows:
        out[job_id][status] = int(count)
    return out


async def job_usage(conn: AsyncConnection, job_id: str) -> dict[str, int]:
    row = (
        await conn.execute(
            select(
                func.coalesce(func.sum(runs.c.input_tokens), 0),
                func.coalesce(func.sum(runs.c.output_tokens), 0),
                func.coalesce(func.sum(runs.c.cache_read_tokens), 0),
                func.coalesce(func.sum(runs.c.cache_write_tokens), 0),
                func.coalesce(func.sum(runs.c.step), 0),
                func.coalesce(func.sum(runs.c.summary_steps), 0),
            ).where(runs.c.job_id == job_id)
        )
    ).one()
    return {
        "input_tokens": int(row[0]),
        "output_tokens": int(row[1]),
        "cache_read_tokens": int(row[2]),
        "cache_write_tokens": int(row[3]),
        # agent steps and summary steps: every one a batch item
        "model_calls": int(row[4]) + int(row[5]),
        "summary_steps": int(row[5]),
    }


async def job_context(conn: AsyncConnection, job_id: str) -> dict[str, Any]:
    """What the job's runs did to their context windows."""
    row = (
        await conn.execute(
            select(
                func.max(runs.c.context_window),
                func.max(runs.c.context_tokens),
                func.coalesce(func.sum(runs.c.summary_steps), 0),
                func.coalesce(func.sum(runs.c.evicted_messages), 0),
                func.count(runs.c.context_note),
            ).where(runs.c.job_id == job_id)
        )
    ).one()
    return {
        "window": row[0],
        "peak_tokens": row[1],
        "summary_steps": int(row[2]),
        "evicted_messages": int(row[3]),
        "notes": int(row[4]),
    }


async def usage_by_model(conn: AsyncConnection, job_id: str) -> list[Any]:
    rows = await conn.execute(
        select(
            runs.c.model,
            func.sum(runs.c.input_tokens).label("input_tokens"),
            func.sum(runs.c.output_tokens).label("output_tokens"),
            func.sum(runs.c.cache_read_tokens).label("cache_read_tokens"),
            func.sum(runs.c.cache_write_tokens).label("cache_write_tokens"),
        )
        .where(runs.c.job_id == job_id)
        .group_by(runs.c.model)
    )
    return list(rows.all())


async def batch_counts(conn: AsyncConnection, job_id: str) -> dict[str, int]:
    rows = await conn.execute(
        select(provider_batches.c.status, func.count())
        .where(provider_batches.c.job_id == job_id)
        .group_by(provider_batches.c.status)
    )
    return {status: int(count) for status, count in rows}


async def _jobs_query(
    conn: AsyncConnection, query: Any, org_id: str, status: str | None, before: str | None
) -> Any:
    """``query`` narrowed to the organisation's jobs (of ``status``) older than ``before``."""
    query = query.where(batch_jobs.c.org_id == org_id)
    if status:
        query = query.where(batch_jobs.c.status == status)
    if before:
        ref = (
            await conn.execute(
                select(batch_jobs.c.created_at).where(
                    batch_jobs.c.id == before, batch_jobs.c.org_id == org_id
                )
            )
        ).first()
        if ref is not None:
            query = query.where(
                (batch_jobs.c.created_at < ref.created_at)
                | and_(batch_jobs.c.created_at == ref.created_at, batch_jobs.c.id < before)
            )
    return query


async def list_job_rows(
    conn: AsyncConnection, org_id: str, *, status: str | None, limit: int, before: str | None
) -> list[Any]:
    query = select(batch_jobs).order_by(batch_jobs.c.created_at.desc(), batch_jobs.c.id.desc())
    query = await _jobs_query(conn, query.limit(limit), org_id, status, before)
    return list((await conn.execute(query)).all())


async def count_jobs(
    conn: AsyncConnection, org_id: str, *, status: str | None, before: str | None
) -> int:
    query = await _jobs_query(
        conn, select(func.count()).select_from(batch_jobs), org_id, status, before
    )
    return int((await conn.execute(query)).scalar_one())


async def count_job_messages(
    conn: AsyncConnection, job_id: str, *, agent_id: str | None, after: int | None
) -> int:
    query = select(func.count()).select_from(messages).where(messages.c.job_id == job_id)
    if agent_id:
        query = query.where(messages.c.agent_id == agent_id)
    if after is not None:
        query = query.where(messages.c.id > after)
    return int((await conn.execute(query)).scalar_one())


async def job_message_rows(
    conn: AsyncConnection, job_id: str, *, agent_id: str | None, after: int | None, limit: int
) -> list[Any]:
    query = select(messages).where(messages.c.job_id == job_id).order_by(messages.c.id).limit(limit)
    if agent_id:
        query = query.where(messages.c.agent_id == agent_id)
    if after is not None:
        query = query.where(messages.c.id > after)
    return list((await conn.execute(query)).all())


async def job_run_rows(
    conn: AsyncConnection, job_id: str, *, status: str | None, after: str | None, limit: int
) -> list[Any]:
    query = select(runs).where(runs.c.job_id == job_id).order_by(runs.c.id).limit(limit)
    if status:
        query = query.where(runs.c.status == status)
    if after:
        query = query.where(runs.c.id > after)
    return list((await conn.execute(query)).all())


async def set_request_count(
    conn: AsyncConnection, job_id: str, request_count: int, skipped: int
) -> None:
    """A job built from a selector: how many runs it got and how many agents it left out."""
    await conn.execute(
        update(batch_jobs)
        .where(batch_jobs.c.id == job_id)
        .values(request_count=request_count, skipped_agents=skipped)
    )


async def delete_empty_job(conn: AsyncConnection, job_id: str) -> None:
    """Remove a job row that got no run (inside the transaction that created it)."""
    await conn.execute(delete(batch_jobs).where(batch_jobs.c.id == job_id))


async def runs_with_error_kind(conn: AsyncConnection, job_id: str, kind: str) -> int:
    row = await conn.execute(
        select(func.count()).where(runs.c.job_id == job_id, runs.c.error_kind == kind)
    )
    return int(row.scalar_one())
