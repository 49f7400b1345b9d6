"""Steps that wait for tools running outside the apply transaction (custom tools in the
sandbox, ``conversation_search``, the archival memory tools: ``runtime.memory_tools``).

The apply pass moves such a run to ``waiting_tools`` and stores its result, so one
organisation's slow tool never holds up the shared pass. This pass leases waiting runs
(each claim counts a tool attempt) and works each one in the background: resolve the
step on a copy of memory to learn which calls must run (a custom tool gets memory as the
calls before it left it), run them, and apply the step in one guarded transaction with
their results. Custom tools are at least once: a worker that dies mid-step leaves the run
waiting, and another runs its tools again, up to ``max_tool_attempts`` times; then the
calls fail with a message instead of crashing every worker that tries ("crash loop").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import datetime
from typing import Any

from agentbatch.domain.model_io import ItemResult, ModelResponse, Outcome
from agentbatch.domain.statuses import RunStatus
from agentbatch.observability.logs import bind
from agentbatch.runtime.apply import PendingCall, ToolKey, commit_chunk, read_chunk
from agentbatch.runtime.apply.commit import make_plan
from agentbatch.runtime.apply.plan import plan
from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.leases import LeaseKeeper
from agentbatch.runtime.memory_tools import OUTSIDE, run_memory_tool_outside
from agentbatch.runtime.retry import backoff_delay
from agentbatch.runtime.tool_fairness import pick_fairly
from agentbatch.store import items, runs, tool_runs
from agentbatch.store.rows import ToolRun
from agentbatch.tools.builtins import ToolResult

log = logging.getLogger(__name__)

WAITING = RunStatus.WAITING_TOOLS.value
MAX_ROUNDS = 20


class ToolSteps:
    """The background tasks of one worker; ``tick`` starts more while there is room.

    At most ``2 x tool_concurrency`` steps run at once, and at most
    ``AGENTBATCH_TOOL_ORG_CONCURRENCY`` of one organisation (``tool_fairness``): the
    rest of one organisation's steps would only wait for its sandbox slots, and another
    organisation's steps must find room beside them."""

    def __init__(self, ctx: RuntimeContext) -> None:
        self.ctx = ctx
        self.running: set[asyncio.Task[None]] = set()
        self._org_of: dict[asyncio.Task[None], str] = {}
        self.finished = asyncio.Event()  # set whenever a step's task ends

    def running_by_org(self) -> Counter[str]:
        """Steps running now, per organisation."""
        return Counter(self._org_of.values())

    async def tick(self) -> int:
        room = max(1, self.ctx.settings.tool_concurrency) * 2 - len(self.running)
        if room <= 0:
            return 0
        ctx = self.ctx
        per_org = ctx.settings.security.tool_org_concurrency
        running = self.running_by_org()
        now = ctx.clock()

        async def claim(conn: Any) -> list[ToolRun]:
            candidates = await tool_runs.waiting_tool_candidates(
                conn, now=now, per_org=min(room, per_org or room)
            )
            picked = pick_fairly(candidates, running, room=room, per_org=per_org)
            return await tool_runs.claim_waiting_tools(
                conn, picked, owner=ctx.owner, now=now, until=ctx.lease_until(now)
            )

        claimed = await ctx.db.transact(claim)
        for run in claimed:
            task = asyncio.create_task(self._work(run), name=f"tools {run.id}")
            self.running.add(task)
            self._org_of[task] = run.org_id
            task.add_done_callback(self._done)
        return len(claimed)

    async def _work(self, run: ToolRun) -> None:
        ctx = self.ctx

        async def renew(conn: Any, until: datetime) -> bool:
            return await runs.renew(conn, run.id, ctx.owner, run.fence, until)

        try:
            with bind(job_id=run.job_id, run_id=run.id, agent_id=run.agent_id):
                async with LeaseKeeper(ctx, f"run {run.id}", renew):
                    await run_step_tools(ctx, run)
        except Exception:  # the run stays waiting; its lease expires; it is tried again
            log.exception("tools of run %s failed to run", run.id)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        self._org_of.pop(task, None)
        self.finished.set()

    async def drain(self) -> None:
        """Wait for the running steps to end."""
        await asyncio.gather(*self.running, return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self.running):
            task.cancel()
        await asyncio.gather(*self.running, return_exceptions=True)


async def _stored_result(ctx: RuntimeContext, item_id: str) -> ItemResult | None:
    async with ctx.db.read() as conn:
        rows = await items.stored_results(conn, [item_id])
    if not rows or rows[0].result is None:
        return None
    row = rows[0]
    return ItemResult(row.id, Outcome(row.outcome), ModelResponse.from_dict(row.result), row.error)


async def run_step_tools(ctx: RuntimeContext, run: ToolRun) -> None:
    result = await _stored_result(ctx, run.current_item_id)
    if result is None:  # never expected: the step cannot resume, so it must not loop
        await _fail_stalled(ctx, run, "the step's model result is missing")
        return
    tool_results: dict[ToolKey, ToolResult] = {}
    crashed = run.tool_attempts > ctx.settings.max_tool_attempts
    base = ctx.settings.retry_backoff_s
    for _round in range(MAX_ROUNDS):
        planned = await read_chunk(ctx, [result], expect_status=WAITING, tool_results=tool_results)
        if planned.snapshot is None or run.current_item_id not in planned.snapshot.current:
            if not planned.snapshot or run.current_item_id not in planned.snapshot.items:
                # the item was settled while its run still waits on it: never expected
                # (applied elsewhere moves the run on); fail rather than wait forever
                await _fail_stalled(ctx, run, "the step's result was settled elsewhere")
            return  # applied meanwhile, or the run moved on (cancelled)
        trial = plan(
            planned.snapshot.with_fresh_memory(),
            planned.results,
            now=ctx.clock(),
            retry_delay=lambda attempt: backoff_delay(attempt - 1, base, ctx.rng),
            tool_results=tool_results,
        )
        if trial.pending:
            await ctx.hooks.fire("tools", run_id=run.id, calls=len(trial.pending))
            if crashed:
                note = (
                    f"the tool was started {run.tool_attempts - 1} times without finishing "
                    "(it crashed its sandbox or its worker); it is not run again"
                )
                outs = [ToolResult(False, note) for _ in trial.pending]
            else:
                outs = await asyncio.gather(*(_run(ctx, p) for p in trial.pending))
            for pending, out in zip(trial.pending, outs, strict=True):
                tool_results[pending.key] = out
            continue
        await commit_chunk(ctx, make_plan(ctx, planned))
        if planned.plan is None or not planned.plan.pending:
            return
    log.warning("run %s: tool calls did not resolve in %d rounds", run.id, MAX_ROUNDS)


async def _run(ctx: RuntimeContext, pending: PendingCall) -> ToolResult:
    call = pending.key[1]
    start = time.time_ns()
    try:
        return await _call(ctx, pending)
    finally:
        kind = "builtin" if call.name == "conversation_search" else "custom"
        ctx.observe.tool_call(pending.key[0], call.id, call.name, kind, start, time.time_ns())


async def _call(ctx: RuntimeContext, pending: PendingCall) -> ToolResult:
    call = pending.key[1]
    try:
        if call.name == "conversation_search":
            return await ctx.tools.conversation_search(ctx.db, pending.agent.id, pending.arguments)
        if call.name in OUTSIDE:
            return await run_memory_tool_outside(
                ctx.db, ctx.memory, pending.agent, pending.org_id, call.name, pending.arguments
            )
        if pending.tool is None:
            return ToolResult(False, f"tool {call.name!r} no longer exists")
        return await ctx.tools.run_custom(
            pending.tool, pending.agent.id, pending.arguments, pending.memory
        )
    except Exception as exc:  # a tool failure must never break the pass
        log.exception("tool %s failed to run", call.name)
        return ToolResult(False, f"{type(exc).__name__}: {exc}")


async def _fail_stalled(ctx: RuntimeContext, run: ToolRun, why: str) -> None:
    """The run's step cannot resume: fail it (only while still waiting under this claim)."""
    now = ctx.clock()
    error = f"{why}; the step cannot resume"
    moved = await ctx.db.transact(
        lambda conn: tool_runs.fail_waiting_tools(
            conn, run.id, ctx.owner, run.fence, error=error, now=now
        )
    )
    if moved:
        log.error("run %s failed: %s", run.id, error)
