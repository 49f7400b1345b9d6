"""Hot-path queries for the worker: claims with leases, bulk loads, bulk writes.

Every function works on a set of rows at once; nothing here issues a query per agent.
On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED`` so that several workers share a
database; on SQLite the write transaction itself (BEGIN IMMEDIATE) serialises workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.agents import BlockView
from agentbatch.domain.messages import Message, ToolCall
from agentbatch.domain.statuses import RUN_ACTIVE, BatchStatus, JobStatus, RunStatus
from agentbatch.store.in_list import in_ids
from agentbatch.store.tables import (
    agent_blocks,
    batch_items,
    batch_jobs,
    blocks,
    messages,
    provider_batches,
    runs,
    tools,
)

_CHUNK = 2000

# the columns the hot paths use: SQLAlchemy processes every column of every row it reads
# (datetimes are parsed, JSON decoded), so the step cycle reads no more than it needs
RUN_HOT = (
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
)
RUN_CLAIMED = (
    runs.c.id,
    runs.c.job_id,
    runs.c.agent_id,
    runs.c.step,
    runs.c.attempt,
    runs.c.solver_state,
    runs.c.pending_messages,
)
ITEM_HOT = (batch_items.c.id, batch_items.c.run_id, batch_items.c.job_id)
BLOCK_HOT = (
    blocks.c.id,
    blocks.c.label,
    blocks.c.value,
    blocks.c.limit,
    blocks.c.description,
    blocks.c.read_only,
    blocks.c.version,
)


def _chunks(ids: Sequence[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _lease_free(table: Any, now: datetime) -> Any:
    return or_(table.c.lease_expires.is_(None), table.c.lease_expires < now)


async def _claim(
    conn: AsyncConnection,
    table: Any,
    candidates: Any,
    owner: str,
    until: datetime,
    skip_locked: bool,
    returning: tuple[Any, ...],
) -> list[Any]:
    """Lease the candidate rows to ``owner`` until ``until``; on PostgreSQL rows another
    worker is claiming right now are skipped (``FOR UPDATE SKIP LOCKED``)."""
    if skip_locked:
        candidates = candidates.with_for_update(skip_locked=True)
    result = await conn.execute(
        update(table)
        .where(table.c.id.in_(candidates.scalar_subquery()))
        .values(lease_owner=owner, lease_expires=until)
        .returning(*returning)
    )
    return list(result.all())


# -- jobs ---------------------------------------------------------------------------------


async def set_job_status(
    conn: AsyncConnection, job_id: str, status: JobStatus, now: datetime, error: str | None = None
) -> None:
    values: dict[str, Any] = {"status": status.value, "updated_at": now}
    if status is JobStatus.RUNNING:
        values["started_at"] = now
    elif status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
        values["finished_at"] = now
    if error is not None:
        values["error"] = error
    await conn.execute(update(batch_jobs).where(batch_jobs.c.id == job_id).values(**values))


async def mark_jobs_running(conn: AsyncConnection, job_ids: Iterable[str], now: datetime) -> None:
    await conn.execute(
        update(batch_jobs)
        .where(batch_jobs.c.id.in_(list(job_ids)), batch_jobs.c.status == JobStatus.CREATED.value)
        .values(status=JobStatus.RUNNING.value, started_at=now, updated_at=now)
    )


async def job_settings(conn: AsyncConnection, job_ids: Iterable[str]) -> dict[str, Any]:
    rows = await conn.execute(
        select(
            batch_jobs.c.id,
            batch_jobs.c.max_steps,
            batch_jobs.c.max_attempts,
            batch_jobs.c.options,
            batch_jobs.c.status,
        ).where(batch_jobs.c.id.in_(list(job_ids)))
    )
    return {r.id: r for r in rows}


async def finishable_jobs(conn: AsyncConnection, limit: int = 100) -> list[str]:
    active = select(runs.c.id).where(
        runs.c.job_id == batch_jobs.c.id, runs.c.status.in_([s.value for s in RUN_ACTIVE])
    )
    rows = await conn.execute(
        select(batch_jobs.c.id)
        .where(
            batch_jobs.c.status.in_([JobStatus.CREATED.value, JobStatus.RUNNING.value]),
            ~active.exists(),
        )
        .limit(limit)
    )
    return [r.id for r in rows]


# -- runs: claim and load -----------------------------------------------------------------


async def ready_groups(conn: AsyncConnection, now: datetime) -> list[Any]:
    """(job_id, model, count, oldest) of queued runs whose backoff has passed, found
    through the open jobs (the ``(job_id, status)`` index), never a scan of all runs."""
    open_jobs = select(batch_jobs.c.id).where(
        batch_jobs.c.status.in_([JobStatus.CREATED.value, JobStatus.RUNNING.value])
    )
    rows = await conn.execute(
        select(
            runs.c.job_id,
            runs.c.model,
            func.count().label("n"),
            func.min(runs.c.updated_at).label("oldest"),
        )
        .where(
            runs.c.job_id.in_(open_jobs),
            runs.c.status == RunStatus.QUEUED.value,
            runs.c.not_before <= now,
            _lease_free(runs, now),
        )
        .group_by(runs.c.job_id, runs.c.model)
    )
    return list(rows.all())


async def claim_runs(
    conn: AsyncConnection,
    *,
    job_id: str,
    model: str,
    owner: str,
    now: datetime,
    until: datetime,
    limit: int,
    skip_locked: bool,
) -> list[Any]:
    candidates = (
        select(runs.c.id)
        .where(
            runs.c.job_id == job_id,
            runs.c.model == model,
            runs.c.status == RunStatus.QUEUED.value,
            runs.c.not_before <= now,
            _lease_free(runs, now),
        )
        .order_by(runs.c.id)
        .limit(limit)
    )
    rows = await _claim(conn, runs, candidates, owner, until, skip_locked, RUN_CLAIMED)
    return sorted(rows, key=lambda r: r.id)


async def lock_runs(conn: AsyncConnection, run_ids: Sequence[str], lock: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for chunk in _chunks(sorted(run_ids)):
        query = select(*RUN_HOT).where(in_ids(runs.c.id, chunk, _dialect(conn))).order_by(runs.c.id)
        if lock:
            query = query.with_for_update()
        out.update((r.id, r) for r in await conn.execute(query))
    return out


async def agent_block_ids(conn: AsyncConnection, agent_ids: Iterable[str]) -> dict[str, list[str]]:
    """Each agent's block ids, in its block order."""
    out: dict[str, list[str]] = {}
    for chunk in _chunks(sorted(set(agent_ids))):
        rows = await conn.execute(
            select(agent_blocks.c.agent_id, agent_blocks.c.block_id)
            .where(in_ids(agent_blocks.c.agent_id, chunk, _dialect(conn)))
            .order_by(agent_blocks.c.agent_id, agent_blocks.c.position)
        )
        for row in rows:
            out.setdefault(row.agent_id, []).append(row.block_id)
    return out


async def load_block_views(
    conn: AsyncConnection, block_ids: Iterable[str], *, lock: bool = False
) -> dict[str, BlockView]:
    """Current block values (locked in id order when asked)."""
    out: dict[str, BlockView] = {}
    for chunk in _chunks(sorted(set(block_ids))):
        query = (
            select(*BLOCK_HOT)
            .where(in_ids(blocks.c.id, chunk, _dialect(conn)))
            .order_by(blocks.c.id)
        )
        if lock:
            query = query.with_for_update()
        for row in await conn.execute(query):
            out[row.id] = BlockView(*row)  # BLOCK_HOT is BlockView's field order
    return out


def message_from_row(row: Any) -> Message:
    return Message(
        role=row.role,
        content=row.content,
        reasoning=row.reasoning,
        reasoning_signature=row.reasoning_signature,
        tool_calls=tuple(ToolCall.from_dict(c) for c in row.tool_calls or ()),
        tool_call_id=row.tool_call_id,
        name=row.name,
        is_error=bool(row.is_error),
        kind=row.kind,
    )


_CONTEXT_COLUMNS = (
    messages.c.agent_id,
    messages.c.role,
    messages.c.kind,
    messages.c.content,
    messages.c.reasoning,
    messages.c.reasoning_signature,
    messages.c.tool_calls,
    messages.c.tool_call_id,
    messages.c.name,
    messages.c.is_error,
)


async def load_context(conn: AsyncConnection, agent_ids: Iterable[str]) -> dict[str, list[Message]]:
    """Each agent's context window (in-context messages, oldest first)."""
    out: dict[str, list[Message]] = {}
    for chunk in _chunks(sorted(set(agent_ids))):
        rows = await conn.execute(
            select(*_CONTEXT_COLUMNS)
            .where(
                in_ids(messages.c.agent_id, chunk, _dialect(conn)), messages.c.in_context.is_(True)
            )
            .order_by(messages.c.agent_id, messages.c.id)
        )
        for row in rows:
            out.setdefault(row.agent_id, []).append(message_from_row(row))
    return out


async def custom_tools(conn: AsyncConnection, org_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """org id -> {tool name -> tool row}."""
    out: dict[str, dict[str, Any]] = {org: {} for org in org_ids}
    if not out:
        return out
    for row in await conn.execute(select(tools).where(tools.c.org_id.in_(list(out)))):
        out[row.org_id][row.name] = row
    return out


# -- bulk writes ----------------------------------------------------------------------------


def _dialect(conn: AsyncConnection) -> str:
    return conn.dialect.name


async def clear_context(conn: AsyncConnection, agent_ids: Sequence[str]) -> None:
    """message_buffer_autoclear: when a run ends, its agent's messages leave the context
    window (an autoclear agent never keeps any between runs)."""
    for chunk in _chunks(list(agent_ids)):
        await conn.execute(
            update(messages)
            .where(messages.c.agent_id.in_(chunk), messages.c.in_context.is_(True))
            .values(in_context=False)
        )


async def insert_provider_batch(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(provider_batches).values(**values))


async def grow_batch(conn: AsyncConnection, batch_id: str, requests: int, size: int) -> None:
    await conn.execute(
        update(provider_batches)
        .where(provider_batches.c.id == batch_id)
        .values(
            request_count=provider_batches.c.request_count + requests,
            payload_bytes=provider_batches.c.payload_bytes + size,
        )
    )


async def update_batch(conn: AsyncConnection, batch_id: str, **values: Any) -> None:
    await conn.execute(
        update(provider_batches).where(provider_batches.c.id == batch_id).values(**values)
    )


async def lock_items(conn: AsyncConnection, item_ids: Sequence[str], lock: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for chunk in _chunks(sorted(item_ids)):
        query = select(*ITEM_HOT).where(
            in_ids(batch_items.c.id, chunk, _dialect(conn)), batch_items.c.applied.is_(False)
        )
        if lock:
            query = query.with_for_update(skip_locked=True)
        out.update((r.id, r) for r in await conn.execute(query))
    return out


# -- provider batches -----------------------------------------------------------------------


async def claim_due_batches(
    conn: AsyncConnection,
    *,
    owner: str,
    now: datetime,
    until: datetime,
    limit: int,
    skip_locked: bool,
) -> list[Any]:
    candidates = (
        select(provider_batches.c.id)
        .where(
            provider_batches.c.status == BatchStatus.IN_PROGRESS.value,
            provider_batches.c.next_poll_at <= now,
            _lease_free(provider_batches, now),
        )
        .order_by(provider_batches.c.next_poll_at)
        .limit(limit)
    )
    return await _claim(
        conn, provider_batches, candidates, owner, until, skip_locked, tuple(provider_batches.c)
    )


async def renew_batch_lease(
    conn: AsyncConnection, batch_id: str, owner: str, until: datetime
) -> bool:
    result = await conn.execute(
        update(provider_batches)
        .where(provider_batches.c.id == batch_id, provider_batches.c.lease_owner == owner)
        .values(lease_expires=until)
    )
    return bool(result.rowcount)


async def unsettled_items_of_batch(conn: AsyncConnection, batch_id: str, limit: int) -> list[Any]:
    rows = await conn.execute(
        select(batch_items.c.id)
        .where(batch_items.c.provider_batch_id == batch_id, batch_items.c.applied.is_(False))
        .order_by(batch_items.c.id)
        .limit(limit)
    )
    return [r.id for r in rows]


async def stale_submitting_batches(
    conn: AsyncConnection, now: datetime, limit: int = 50
) -> list[Any]:
    rows = await conn.execute(
        select(provider_batches.c.id)
        .where(
            provider_batches.c.status == BatchStatus.SUBMITTING.value,
            _lease_free(provider_batches, now),
        )
        .limit(limit)
    )
    return [r.id for r in rows]


async def stranded_item_batches(conn: AsyncConnection, limit: int = 50) -> list[str]:
    """Provider batches no longer open that still hold unapplied items."""
    rows = await conn.execute(
        select(batch_items.c.provider_batch_id)
        .join(provider_batches, provider_batches.c.id == batch_items.c.provider_batch_id)
        .where(
            batch_items.c.applied.is_(False),
            provider_batches.c.status.in_(
                [BatchStatus.FAILED.value, BatchStatus.INGESTED.value, BatchStatus.CANCELED.value]
            ),
        )
        .distinct()
        .limit(limit)
    )
    return [r.provider_batch_id for r in rows]


async def finishable_jobs_check(conn: AsyncConnection, job_id: str) -> bool:
    """Re-check inside the finishing transaction that the job is open and has no active run."""
    job = (await conn.execute(select(batch_jobs.c.status).where(batch_jobs.c.id == job_id))).first()
    if job is None or job.status not in (JobStatus.CREATED.value, JobStatus.RUNNING.value):
        return False
    active = await conn.execute(
        select(runs.c.id)
        .where(runs.c.job_id == job_id, runs.c.status.in_([s.value for s in RUN_ACTIVE]))
        .limit(1)
    )
    return active.first() is None


async def unapplied_items(conn: AsyncConnection, item_ids: set[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(sorted(item_ids)):
        rows = await conn.execute(
            select(batch_items.c.id).where(
                in_ids(batch_items.c.id, chunk, _dialect(conn)), batch_items.c.applied.is_(False)
            )
        )
        found.update(r.id for r in rows)
    return found


async def run_heads(
    conn: AsyncConnection, run_ids: Iterable[str], lock: bool
) -> dict[str, tuple[Any, ...]]:
    """(status, current_item_id, step) per run, locked when asked."""
    out: dict[str, tuple[Any, ...]] = {}
    for chunk in _chunks(sorted(run_ids)):
        query = (
            select(runs.c.id, runs.c.status, runs.c.current_item_id, runs.c.step)
            .where(in_ids(runs.c.id, chunk, _dialect(conn)))
            .order_by(runs.c.id)
        )
        if lock:
            query = query.with_for_update()
        out.update((r.id, (r.status, r.current_item_id, r.step)) for r in await conn.execute(query))
    return out


async def block_versions(
    conn: AsyncConnection, block_ids: Iterable[str], lock: bool
) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in _chunks(sorted(block_ids)):
        query = (
            select(blocks.c.id, blocks.c.version)
            .where(in_ids(blocks.c.id, chunk, _dialect(conn)))
            .order_by(blocks.c.id)
        )
        if lock:
            query = query.with_for_update()
        out.update((r.id, r.version) for r in await conn.execute(query))
    return out
