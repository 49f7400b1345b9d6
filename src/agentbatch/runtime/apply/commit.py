"""Apply a chunk of results: snapshot (outside any write transaction), pure plan, then one
guarded transaction that writes the plan if its snapshot still holds, or re-reads under
the write lock and writes a fresh plan.

Poison isolation: if planning or writing a chunk raises (a value a database refuses, a
constraint, a bug met by odd input), the chunk is split and each half applied alone, down
to the single item, whose step then fails with the error (its run fails, the item is
settled) while every other item applies. A database that cannot be reached is not poison:
that error propagates and the pass backs off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentbatch.domain.model_io import ItemResult
from agentbatch.domain.statuses import RunStatus
from agentbatch.domain.text import storable, storable_result
from agentbatch.runtime.apply.plan import ApplyStats, Plan, ToolKey, plan
from agentbatch.runtime.apply.rows import failed_run
from agentbatch.runtime.apply.snapshot import Snapshot, read_snapshot
from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.retry import backoff_delay
from agentbatch.store import step_writes
from agentbatch.store.step_writes import StepExpect, StepWrites
from agentbatch.tools.builtins import ToolResult

log = logging.getLogger(__name__)


@dataclass
class Planned:
    results: dict[str, ItemResult]
    expect_status: str
    tool_results: Mapping[ToolKey, ToolResult] | None
    snapshot: Snapshot | None = None
    plan: Plan | None = None
    failure: Exception | None = None  # planning raised: the commit isolates the culprit


def make_plan(ctx: RuntimeContext, planned: Planned) -> Planned:
    """The pure part (Python only): plan the chunk from its snapshot."""
    if planned.snapshot is not None:
        try:
            planned.plan = _plan(ctx, planned.snapshot, planned)
        except Exception as exc:
            planned.plan, planned.failure = None, exc
    return planned


def _plan(ctx: RuntimeContext, snap: Snapshot, planned: Planned) -> Plan:
    base = ctx.settings.retry_backoff_s
    return plan(
        snap,
        planned.results,
        now=ctx.clock(),
        retry_delay=lambda attempt: backoff_delay(attempt - 1, base, ctx.rng),
        tool_results=planned.tool_results,
    )


async def read_chunk(
    ctx: RuntimeContext,
    results: Sequence[ItemResult],
    *,
    expect_status: str = RunStatus.WAITING_MODEL.value,
    tool_results: Mapping[ToolKey, ToolResult] | None = None,
) -> Planned:
    """The I/O part before planning: the chunk's snapshot."""
    by_id = {r.custom_id: storable_result(r) for r in results}
    planned = Planned(by_id, expect_status, tool_results)
    if by_id:
        async with ctx.db.read() as conn:
            planned.snapshot = await read_snapshot(
                ctx, conn, by_id, lock=False, expect_status=expect_status
            )
    return planned


async def apply_results(
    ctx: RuntimeContext,
    results: Sequence[ItemResult],
    *,
    expect_status: str = RunStatus.WAITING_MODEL.value,
    tool_results: Mapping[ToolKey, ToolResult] | None = None,
) -> ApplyStats:
    """Apply a chunk of results (plan from a snapshot, commit in one transaction)."""
    with ctx.metrics.phase("apply", ctx.db):
        planned = make_plan(
            ctx,
            await read_chunk(ctx, results, expect_status=expect_status, tool_results=tool_results),
        )
    return await commit_chunk(ctx, planned)


async def commit_chunk(ctx: RuntimeContext, planned: Planned) -> ApplyStats:
    """Commit a planned chunk, isolating any item that cannot be applied."""
    if planned.snapshot is None:
        return ApplyStats()
    with ctx.observe.chunk_span("apply_chunk", len(planned.results)):
        try:
            stats = await _commit(ctx, planned)
        except Exception as exc:
            await _require_database(ctx)
            return await _isolate(ctx, planned, exc)
        await ctx.observe.applied(ctx.db, planned, time.time_ns())
    return stats


async def _commit(ctx: RuntimeContext, planned: Planned) -> ApplyStats:
    if planned.failure is not None:
        raise planned.failure
    if planned.plan is None:
        assert planned.snapshot is not None
        planned.plan = _plan(ctx, planned.snapshot, planned)
    first = planned.plan
    if first.pending:
        return ApplyStats()  # the caller runs the pending tools and plans again
    lock = not ctx.db.is_sqlite

    async def txn(conn: Any) -> Plan:
        if await step_writes.commit(conn, first.writes, first.expect):
            return first
        snap = await read_snapshot(
            ctx, conn, planned.results, lock=lock, expect_status=planned.expect_status
        )
        fresh = _plan(ctx, snap, planned)
        if not fresh.pending:
            await step_writes.write(conn, fresh.writes)
        return fresh

    with ctx.metrics.phase("apply", ctx.db) as phase:
        written = await ctx.db.transact(txn)
        phase.items += written.stats.applied
    planned.plan = written
    for agent_id, run_id, step, appended in written.advanced:
        ctx.contexts.advance(agent_id, run_id, step, appended)
    for agent_id in (*written.ended, *written.stale):
        ctx.contexts.drop(agent_id)
    return written.stats


async def _require_database(ctx: RuntimeContext) -> None:
    """Raise if the database itself is unreachable (then nothing is poison)."""
    await ctx.db.ping()


async def _isolate(ctx: RuntimeContext, planned: Planned, exc: Exception) -> ApplyStats:
    ids = sorted(planned.results)
    if len(ids) == 1:
        return await _fail_poisoned(ctx, planned, ids[0], exc)
    stats = ApplyStats()
    half = len(ids) // 2
    for part in (ids[:half], ids[half:]):
        sub = await read_chunk(
            ctx,
            [planned.results[i] for i in part],
            expect_status=planned.expect_status,
            tool_results=planned.tool_results,
        )
        stats.add(await commit_chunk(ctx, sub))  # plans inside: a failure there is isolated
    return stats


async def _fail_poisoned(
    ctx: RuntimeContext, planned: Planned, item_id: str, exc: Exception
) -> ApplyStats:
    """The one item that cannot be applied: its step fails with the error, alone."""
    error = storable(f"the result could not be applied: {_describe(exc)}")
    log.warning("item %s: %s", item_id, error)
    now = ctx.clock()
    result = planned.results[item_id]

    async def txn(conn: Any) -> ApplyStats:
        snap = await read_snapshot(
            ctx,
            conn,
            {item_id: result},
            lock=not ctx.db.is_sqlite,
            expect_status=planned.expect_status,
        )
        stats = ApplyStats()
        if item_id not in snap.items:
            return stats
        writes = StepWrites(now=now)
        expect = StepExpect(items={item_id})
        writes.settle.append(
            {
                "b_id": item_id,
                "outcome": result.outcome.value,
                "result": None,
                "error": error,
                "applied_at": now,
            }
        )
        if item_id in snap.current:
            run = snap.runs[snap.items[item_id].run_id]
            expect.runs[run.id] = (run.status, item_id, run.step)
            writes.run_updates.append(failed_run(run.id, error, "apply", now))
            stats.applied, stats.failed = 1, 1
        else:
            stats.ignored = 1
        if not await step_writes.commit(conn, writes, expect):
            return ApplyStats()
        return stats

    stats = await ctx.db.transact(txn)
    ctx.observe.runs_failed("apply", stats.failed)
    return stats


def _describe(exc: BaseException) -> str:
    """The error for the run's owner: its class and message, without the SQL statement
    and parameters a database error carries (they are in the worker's log)."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).split("[SQL:", 1)[0].strip().splitlines()
    return f"{type(inner).__name__}: {(text[0] if text else '')[:300]}"
