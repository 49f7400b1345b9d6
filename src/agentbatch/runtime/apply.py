"""Apply item results: one transaction per chunk stores each outcome and its effects.

For a succeeded item: the assistant message, tool results, memory edits, the heartbeat and
the run's new state. For an errored / expired / canceled item: a retry (the run goes back to
the queue after a backoff) or, past ``max_attempts``, the run's failure. An item that was
already applied, or is no longer its run's current item, changes nothing: exactly once.

Tools whose results come from outside the transaction (custom tools, conversation_search)
are produced first, against a snapshot, and handed in by tool-call; memory tools run inside
the transaction against the latest (locked) block values, in item-id order.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from agentbatch.domain.agents import AgentSpec, BlockView
from agentbatch.domain.messages import Message, ToolCall
from agentbatch.domain.model_io import ItemResult, Outcome
from agentbatch.domain.statuses import RunStatus
from agentbatch.runtime.catalog import catalog_for
from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.retry import backoff_delay
from agentbatch.runtime.rows import message_row
from agentbatch.step.prepare import ToolCatalog
from agentbatch.step.resolve import ResultPending, StepOutcome, resolve_step
from agentbatch.step.solver import RuleSet, SolverState
from agentbatch.step.workspace import MemoryWorkspace
from agentbatch.store import runtime_repo as rr
from agentbatch.store import tables
from agentbatch.store.bulk import Op, RawJSON, insert_op, run_ops, update_ops
from agentbatch.tools.builtins import (
    ASYNC_BUILTINS,
    BUILTIN_SPECS,
    MEMORY_TOOLS,
    ToolResult,
    run_memory_tool,
    send_message_result,
)

log = logging.getLogger(__name__)

AsyncKey = tuple[str, ToolCall]


@dataclass
class ApplyStats:
    applied: int = 0
    continued: int = 0
    completed: int = 0
    retried: int = 0
    failed: int = 0
    ignored: int = 0

    def add(self, other: ApplyStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Plan:
    stats: ApplyStats
    settle: list[dict[str, Any]]
    run_updates: list[dict[str, Any]]
    msg_rows: list[dict[str, Any]]
    autoclear: list[str]
    changed_blocks: list[BlockView]
    now: Any
    expect_items: set[str]
    expect_runs: dict[str, tuple[Any, ...]]
    expect_blocks: dict[str, int]
    # what each advanced run appended to its agent's window (agent, run, step, messages)
    advanced: list[tuple[str, str, int, list[Message]]] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)  # agents whose run finished or failed


@dataclass
class PlannedApply:
    by_id: dict[str, ItemResult]
    async_results: dict[AsyncKey, ToolResult]
    plan: _Plan | None
    snapshot: Any = None


class PassRunner:
    """Executes checked tool calls for one item within a pass."""

    def __init__(
        self,
        item_id: str,
        ws: MemoryWorkspace,
        async_results: dict[AsyncKey, ToolResult],
        done: dict[AsyncKey, ToolResult],
    ) -> None:
        self.item_id = item_id
        self.ws = ws
        self.async_results = async_results
        self.done = done

    def run(self, agent: AgentSpec, call: ToolCall, args: dict[str, Any]) -> ToolResult | None:
        key = (self.item_id, call)
        if key in self.done:
            return self.done[key]
        if call.name in MEMORY_TOOLS:
            result = run_memory_tool(call.name, args, agent.id, self.ws)
        elif call.name == "send_message":
            result = send_message_result(args)
        else:
            found = self.async_results.get(key)
            if found is None:
                return None
            result = found
        self.done[key] = result
        return result


@dataclass
class _Loaded:
    agents: dict[str, tuple[AgentSpec, str]]
    ws: MemoryWorkspace
    customs: dict[str, dict[str, Any]]
    catalogs: dict[str, ToolCatalog]

    def catalog(self, org_id: str) -> ToolCatalog:
        cat = self.catalogs.get(org_id)
        if cat is None:
            cat = self.catalogs[org_id] = catalog_for(org_id, self.customs)
        return cat


async def _load(
    ctx: RuntimeContext,
    conn: Any,
    agent_ids: Sequence[str],
    lock_blocks: bool,
    memory_users: set[str] | None = None,
) -> _Loaded:
    """Agents and, for ``memory_users`` (default: all), their blocks. An agent whose tool
    calls touch no memory needs none: a step that only replies reads no block."""
    agents, agent_blocks = await ctx.agents.load(conn, agent_ids)
    if memory_users is not None:
        agent_blocks = {a: ids for a, ids in agent_blocks.items() if a in memory_users}
    block_map = await rr.load_block_views(
        conn, (b for ids in agent_blocks.values() for b in ids), lock=lock_blocks
    )
    customs = await ctx.custom_tools.load(conn, agents.values())
    return _Loaded(agents, MemoryWorkspace(block_map.values(), agent_blocks), customs, {})


def _touches_memory(result: ItemResult) -> bool:
    """Memory tools read and write blocks; custom tools may receive a copy of them."""
    if result.response is None:
        return False
    return any(
        c.name in MEMORY_TOOLS or c.name not in BUILTIN_SPECS for c in result.response.tool_calls
    )


def _needs_async(result: ItemResult) -> bool:
    if result.response is None:
        return False
    return any(
        c.name not in BUILTIN_SPECS or c.name in ASYNC_BUILTINS for c in result.response.tool_calls
    )


async def apply_results(ctx: RuntimeContext, results: Sequence[ItemResult]) -> ApplyStats:
    """Apply a chunk of results: plan from a snapshot, then commit in one transaction."""
    with ctx.metrics.phase("apply", ctx.db):
        planned = await plan_results(ctx, results)
    return await commit_plan(ctx, planned)


async def _prefill_async(
    ctx: RuntimeContext, by_id: dict[str, ItemResult], async_results: dict[AsyncKey, ToolResult]
) -> None:
    """Resolve against a snapshot to learn which out-of-transaction calls run, then run them
    (concurrently) until every step resolves. Their results are reused inside the txn."""
    async with ctx.db.read() as conn:
        items = await rr.lock_items(conn, list(by_id), lock=False)
        runs = await rr.lock_runs(conn, [i.run_id for i in items.values()], lock=False)
        jobs = await ctx.jobs.load(conn, {i.job_id for i in items.values()})
        loaded = await _load(ctx, conn, [r.agent_id for r in runs.values()], lock_blocks=False)
    for _round in range(20):
        # Every round replays the chunk from the snapshot: memory tools run once per round
        # against a fresh copy, so a custom tool sees memory as the calls before it (in
        # apply order) left it, never writes applied twice or writes that come after it.
        ws = copy.deepcopy(loaded.ws)
        pending: list[tuple[AsyncKey, AgentSpec, Any, dict[str, Any], dict[str, str]]] = []
        done: dict[AsyncKey, ToolResult] = {}
        for item_id in sorted(items):
            item, result = items[item_id], by_id[item_id]
            run = runs.get(item.run_id)
            if run is None or result.response is None or not _is_current(item, run):
                continue
            agent, org_id = loaded.agents[run.agent_id]
            try:
                _resolve(
                    item_id,
                    run,
                    agent,
                    loaded.catalog(org_id),
                    ws,
                    result,
                    jobs[item.job_id].max_steps,
                    async_results,
                    done,
                )
            except ResultPending as p:
                pending.append(
                    (
                        (item_id, p.call),
                        agent,
                        loaded.customs.get(org_id, {}).get(p.call.name),
                        p.arguments,
                        ws.memory_dict(agent.id),  # memory at this call's place in order
                    )
                )
        if not pending:
            return
        import asyncio

        outs = await asyncio.gather(
            *(
                _run_async(ctx, memory, a, tool, key[1], args)
                for key, a, tool, args, memory in pending
            )
        )
        for (key, *_rest), out in zip(pending, outs, strict=True):
            async_results[key] = out


async def _run_async(
    ctx: RuntimeContext,
    memory: dict[str, str],
    agent: AgentSpec,
    tool: Any,
    call: ToolCall,
    args: dict[str, Any],
) -> ToolResult:
    try:
        if call.name == "conversation_search":
            return await ctx.tools.conversation_search(ctx.db, agent.id, args)
        if tool is None:
            return ToolResult(False, f"tool {call.name!r} no longer exists")
        return await ctx.tools.run_custom(tool, agent.id, args, memory)
    except Exception as exc:  # a tool failure must never break the pass
        log.exception("tool %s failed to run", call.name)
        return ToolResult(False, f"{type(exc).__name__}: {exc}")


def _is_current(item: Any, run: Any) -> bool:
    return bool(run.current_item_id == item.id and run.status == RunStatus.WAITING_MODEL.value)


def _resolve(
    item_id: str,
    run: Any,
    agent: AgentSpec,
    catalog: ToolCatalog,
    ws: MemoryWorkspace,
    result: ItemResult,
    max_steps: int,
    async_results: dict[AsyncKey, ToolResult],
    done: dict[AsyncKey, ToolResult],
) -> StepOutcome:
    assert result.response is not None
    return resolve_step(
        agent,
        RuleSet(agent.rules),
        SolverState.from_dict(run.solver_state),
        result.response,
        catalog=catalog,
        runner=PassRunner(item_id, ws, async_results, done),
        steps_done=run.step + 1,
        max_steps=max_steps,
    )


async def _plan(
    ctx: RuntimeContext,
    conn: Any,
    by_id: dict[str, ItemResult],
    async_results: dict[AsyncKey, ToolResult],
    lock: bool,
) -> _Plan:
    """Read the state these results touch and compute every row the pass will write."""
    snap = await _snapshot(ctx, conn, by_id, lock)
    return await _compute(ctx, snap, by_id, async_results)


@dataclass
class _Snapshot:
    items: dict[str, Any]
    runs: dict[str, Any]
    jobs: dict[str, Any]
    loaded: _Loaded | None
    current: set[str]  # items that are still their run's current item


async def _snapshot(
    ctx: RuntimeContext, conn: Any, by_id: dict[str, ItemResult], lock: bool
) -> _Snapshot:
    """Every read an apply pass needs (I/O only)."""
    items = await rr.lock_items(conn, list(by_id), lock=lock)
    runs = await rr.lock_runs(conn, [i.run_id for i in items.values()], lock=lock)
    jobs = await ctx.jobs.load(conn, {i.job_id for i in items.values()})
    current = {
        item_id
        for item_id, item in items.items()
        if item.run_id in runs and _is_current(item, runs[item.run_id])
    }
    agent_ids = [
        runs[items[item_id].run_id].agent_id
        for item_id in current
        if by_id[item_id].outcome is Outcome.SUCCEEDED and by_id[item_id].response is not None
    ]
    memory_users = {
        runs[items[item_id].run_id].agent_id
        for item_id in current
        if _touches_memory(by_id[item_id])
    }
    loaded = (
        await _load(ctx, conn, agent_ids, lock_blocks=lock, memory_users=memory_users)
        if agent_ids
        else None
    )
    return _Snapshot(items, runs, jobs, loaded, current)


async def _compute(
    ctx: RuntimeContext,
    snap: _Snapshot,
    by_id: dict[str, ItemResult],
    async_results: dict[AsyncKey, ToolResult],
) -> _Plan:
    """Every row the pass will write, from a snapshot (Python work; awaits only to run an
    out-of-transaction tool that the snapshot did not foresee)."""
    now = ctx.clock()
    stats = ApplyStats()
    items, runs, jobs = snap.items, snap.runs, snap.jobs
    settle: list[dict[str, Any]] = []
    run_updates: list[dict[str, Any]] = []
    msg_rows: list[dict[str, Any]] = []
    finished_autoclear: list[str] = []
    succeeded: list[str] = []
    changed: list[BlockView] = []
    block_versions: dict[str, int] = {}
    advanced: list[tuple[str, str, int, list[Message]]] = []
    ended: list[str] = []
    for item_id in sorted(items):
        item, result = items[item_id], by_id[item_id]
        response: Any = None
        if result.response_json is not None:
            response = RawJSON(result.response_json)
        elif result.response is not None:
            response = result.response.to_dict()
        settle.append(
            {
                "b_id": item_id,
                "outcome": result.outcome.value,
                "result": response,
                "error": result.error,
                "applied_at": now,
            }
        )
        if item_id not in snap.current:
            stats.ignored += 1
            continue
        run = runs[item.run_id]
        stats.applied += 1
        if result.outcome is Outcome.SUCCEEDED and result.response is not None:
            succeeded.append(item_id)
            continue
        job = jobs[item.job_id]
        error = f"{result.outcome.value}: {result.error or 'no detail from the provider'}"
        if run.attempt >= job.max_attempts:
            ended.append(run.agent_id)
            stats.failed += 1
            run_updates.append(
                _failed_run(run.id, f"{error} (after {run.attempt} attempt(s))", now)
            )
        else:
            stats.retried += 1
            delay = backoff_delay(run.attempt - 1, ctx.settings.retry_backoff_s, ctx.rng)
            run_updates.append(
                {
                    "b_id": run.id,
                    "status": RunStatus.QUEUED.value,
                    "attempt": run.attempt + 1,
                    "not_before": now + timedelta(seconds=delay),
                    "last_error": error,
                    "updated_at": now,
                    "lease_owner": None,
                    "lease_expires": None,
                }
            )
    if succeeded:
        loaded = snap.loaded
        assert loaded is not None
        for item_id in succeeded:
            item = items[item_id]
            run = runs[item.run_id]
            agent, org_id = loaded.agents[run.agent_id]
            result = by_id[item_id]
            done: dict[AsyncKey, ToolResult] = {}
            outcome = None
            for _round in range(20):
                try:
                    outcome = _resolve(
                        item_id,
                        run,
                        agent,
                        loaded.catalog(org_id),
                        loaded.ws,
                        result,
                        jobs[item.job_id].max_steps,
                        async_results,
                        done,
                    )
                    break
                except ResultPending as p:  # state moved since the snapshot: run it now
                    tool = loaded.customs.get(org_id, {}).get(p.call.name)
                    async_results[(item_id, p.call)] = await _run_async(
                        ctx, loaded.ws.memory_dict(agent.id), agent, tool, p.call, p.arguments
                    )
            if outcome is None:
                run_updates.append(_failed_run(run.id, "tool calls could not be resolved", now))
                stats.failed += 1
                continue
            # the last tool output only matters to conditional rules
            keep = any(r.kind == "conditional" for r in agent.rules)
            _step_rows(outcome, run, org_id, result, now, msg_rows, run_updates, keep)
            if outcome.done:
                ended.append(run.agent_id)
            else:
                appended = [outcome.assistant, *outcome.tool_messages]
                if outcome.heartbeat is not None:
                    appended.append(outcome.heartbeat)
                advanced.append((run.agent_id, run.id, run.step, appended))
            if outcome.done:
                stats.completed += 1
                if agent.message_buffer_autoclear:
                    finished_autoclear.append(run.agent_id)
            else:
                stats.continued += 1
        changed = list(loaded.ws.changed.values())
        block_versions = {b: loaded.ws.original_version(b) for b in loaded.ws.touched}
    return _Plan(
        stats=stats,
        settle=settle,
        run_updates=run_updates,
        msg_rows=msg_rows,
        autoclear=finished_autoclear,
        changed_blocks=changed,
        now=now,
        expect_items=set(items),
        expect_runs={
            items[i].run_id: (runs[items[i].run_id].status, i, runs[items[i].run_id].step)
            for i in snap.current
        },
        expect_blocks=block_versions,
        advanced=advanced,
        ended=ended,
    )


def _write_ops(plan: _Plan, dialect: str) -> list[Op]:
    """The plan's writes as driver-level bulk statements, in order."""
    blocks_rows = [
        {"b_id": b.id, "value": b.value, "version": b.version, "updated_at": plan.now}
        for b in plan.changed_blocks
    ]
    return [
        *update_ops(tables.blocks, blocks_rows, dialect),
        *insert_op(tables.messages, plan.msg_rows, dialect),
        *update_ops(tables.runs, plan.run_updates, dialect),
        *update_ops(tables.batch_items, [{**r, "applied": True} for r in plan.settle], dialect),
    ]


async def _write(conn: Any, plan: _Plan, checks: list[tuple[str, Any, int]] | None = None) -> bool:
    """Write the plan (after ``checks`` pass, when given); False if a check failed."""
    if not await run_ops(conn, _write_ops(plan, conn.dialect.name), checks or ()):
        return False
    if plan.autoclear:
        await rr.clear_context(conn, plan.autoclear)
    return True


_SQLITE_CHECK_ITEMS = (
    "SELECT count(*) FROM batch_items WHERE applied = 0 AND id IN (SELECT value FROM json_each(?))"
)
_SQLITE_CHECK_RUNS = (
    "SELECT count(*) FROM runs WHERE status = 'waiting_model' AND (id, current_item_id, step) "
    "IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
    "json_extract(value, '$[2]') FROM json_each(?))"
)
_SQLITE_CHECK_BLOCKS = (
    "SELECT count(*) FROM blocks WHERE (id, version) "
    "IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))"
)


def _sqlite_checks(plan: _Plan) -> list[tuple[str, Any, int]]:
    """Count checks equivalent to ``_still_valid`` (see there), run in the driver's thread."""
    heads = [[run, head[1], head[2]] for run, head in plan.expect_runs.items()]
    versions = [[b, v] for b, v in plan.expect_blocks.items()]
    return [
        (_SQLITE_CHECK_ITEMS, json.dumps(sorted(plan.expect_items)), len(plan.expect_items)),
        (_SQLITE_CHECK_RUNS, json.dumps(heads), len(heads)),
        (_SQLITE_CHECK_BLOCKS, json.dumps(versions), len(versions)),
    ]


async def _still_valid(conn: Any, plan: _Plan) -> bool:
    """PostgreSQL, inside the write transaction: lock the rows the plan read and check that
    its snapshot is still current. Enough to know: every planned item is still unapplied;
    every run the plan advances still waits on that item (its step and current item change
    only when that item is applied, which the first check catches, or when its job is
    cancelled); every block a memory tool read still has its snapshot version. SQLite runs
    the same checks as counts, in one driver call with the writes (``_sqlite_checks``)."""
    if await rr.unapplied_items(conn, plan.expect_items) != plan.expect_items:
        return False
    if await rr.run_heads(conn, plan.expect_runs, True) != plan.expect_runs:
        return False
    return await rr.block_versions(conn, plan.expect_blocks, True) == plan.expect_blocks


async def plan_results(ctx: RuntimeContext, results: Sequence[ItemResult]) -> PlannedApply:
    """Phase one of an apply, outside any write transaction: run out-of-transaction tools,
    then compute the pass from a snapshot. ``commit_plan`` writes it (or recomputes)."""
    return await compute_plan(ctx, await snapshot_results(ctx, results))


async def snapshot_results(ctx: RuntimeContext, results: Sequence[ItemResult]) -> PlannedApply:
    """The reads of phase one (and the out-of-transaction tools): SQL, little Python."""
    by_id = {r.custom_id: r for r in results}
    async_results: dict[AsyncKey, ToolResult] = {}
    if by_id and any(_needs_async(r) for r in by_id.values()):
        await _prefill_async(ctx, by_id, async_results)
    snap = None
    if by_id:
        async with ctx.db.read() as conn:
            snap = await _snapshot(ctx, conn, by_id, lock=False)
    return PlannedApply(by_id, async_results, None, snap)


async def compute_plan(ctx: RuntimeContext, planned: PlannedApply) -> PlannedApply:
    """The Python work of phase one: resolve every step from the snapshot."""
    if planned.snapshot is not None:
        planned.plan = await _compute(ctx, planned.snapshot, planned.by_id, planned.async_results)
    return planned


async def commit_plan(ctx: RuntimeContext, planned: PlannedApply) -> ApplyStats:
    if planned.plan is None:
        return ApplyStats()
    lock = not ctx.db.is_sqlite

    async def txn(conn: Any) -> _Plan:
        assert planned.plan is not None
        plan = planned.plan
        if lock:  # PostgreSQL: lock the rows the plan read, then compare
            valid = await _still_valid(conn, plan)
            if valid:
                await _write(conn, plan)
        else:  # SQLite: checks and writes in one call in the driver's thread
            valid = await _write(conn, plan, _sqlite_checks(plan))
        if not valid:
            plan = await _plan(ctx, conn, planned.by_id, planned.async_results, lock)
            await _write(conn, plan)
        return plan

    with ctx.metrics.phase("apply", ctx.db) as phase:
        written = await ctx.db.transact(txn)
        phase.items += written.stats.applied
    for agent_id, run_id, step, appended in written.advanced:
        ctx.contexts.advance(agent_id, run_id, step, appended)
    for agent_id in written.ended:
        ctx.contexts.drop(agent_id)
    return written.stats


def _failed_run(run_id: str, error: str, now: Any) -> dict[str, Any]:
    return {
        "b_id": run_id,
        "status": RunStatus.FAILED.value,
        "last_error": error,
        "stop_reason": "error",
        "finished_at": now,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires": None,
    }


def _step_rows(
    outcome: StepOutcome,
    run: Any,
    org_id: str,
    result: ItemResult,
    now: Any,
    msg_rows: list[dict[str, Any]],
    run_updates: list[dict[str, Any]],
    keep_output: bool = True,
) -> None:
    assert result.response is not None
    common = {
        "org_id": org_id,
        "agent_id": run.agent_id,
        "job_id": run.job_id,
        "run_id": run.id,
        "now": now,
    }
    msg_rows.append(message_row(outcome.assistant, step=run.step, **common))
    for msg in outcome.tool_messages:
        msg_rows.append(message_row(msg, step=run.step, **common))
    if outcome.heartbeat is not None:
        msg_rows.append(message_row(outcome.heartbeat, step=run.step + 1, **common))
    usage = result.response.usage
    update: dict[str, Any] = {
        "b_id": run.id,
        "step": run.step + 1,
        "attempt": 1,
        "solver_state": outcome.state.to_dict(keep_output=keep_output),
        "input_tokens": run.input_tokens + usage.input_tokens,
        "output_tokens": run.output_tokens + usage.output_tokens,
        "cache_read_tokens": run.cache_read_tokens + usage.cache_read_tokens,
        "cache_write_tokens": run.cache_write_tokens + usage.cache_write_tokens,
        "reply": outcome.reply if outcome.reply is not None else run.reply,
        "last_error": None,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires": None,
    }
    if outcome.done:
        update.update(
            status=RunStatus.COMPLETED.value,
            stop_reason=outcome.stop_reason,
            finished_at=now,
            not_before=now,
        )
    else:
        update.update(
            status=RunStatus.QUEUED.value, stop_reason=None, finished_at=None, not_before=now
        )
    run_updates.append(update)
