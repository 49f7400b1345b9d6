"""Pure planning of an apply chunk: from a snapshot and the items' results, every row the
chunk writes and every expectation its commit checks (no I/O, no clock, no randomness).

Per item, in item-id order:

* not its run's current item, or the run is not in the expected status: settled, ignored;
* errored / expired / canceled: a retry (queued after ``retry_delay``) while attempts are
  left and the provider did not reject the request itself; else the run fails;
* succeeded: the step resolves (memory tools against the workspace, one write after
  another), unless it calls tools that run outside the transaction (custom tools,
  ``conversation_search``): in the ingest phase (``tool_results is None``) such a run
  moves to ``waiting_tools`` and its result is stored, to be resolved by the tools pass
  with those tools' results; in the tools phase a call whose result is missing is
  returned in ``Plan.pending`` (run it, then plan again);
* a succeeded summary step (``item.kind == "summary"``): its eviction and new summary
  (``apply.summary``); the run is queued again for its own step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agentbatch.domain.agents import AgentSpec
from agentbatch.domain.messages import Message
from agentbatch.domain.model_io import ItemResult, Outcome
from agentbatch.domain.statuses import RunStatus
from agentbatch.jsonfast import RawJSON
from agentbatch.runtime.apply.calls import needs_outside_tools
from agentbatch.runtime.apply.rows import failed_run, history_rows, step_rows
from agentbatch.runtime.apply.runner import Runner, ToolKey
from agentbatch.runtime.apply.snapshot import Snapshot
from agentbatch.runtime.apply.summary import plan_summary
from agentbatch.step.resolve import ResultPending, StepOutcome, resolve_step
from agentbatch.step.solver import RuleSet, SolverState
from agentbatch.step.workspace import Editor
from agentbatch.store.rows import CustomTool, ItemRef, RunState
from agentbatch.store.step_writes import StepExpect, StepWrites
from agentbatch.tools.builtins import ToolResult

RetryDelay = Callable[[int], float]  # attempt that failed (1-based) -> seconds


@dataclass
class ApplyStats:
    applied: int = 0
    continued: int = 0
    completed: int = 0
    retried: int = 0
    failed: int = 0
    ignored: int = 0
    deferred: int = 0  # moved to waiting_tools
    summarised: int = 0  # summary steps applied

    def add(self, other: ApplyStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class PendingCall:
    """An out-of-transaction tool call to run before the step can resolve; ``memory`` is
    the agent's memory at the call's place in the step."""

    key: ToolKey
    agent: AgentSpec
    tool: CustomTool | None
    arguments: dict[str, Any]
    memory: dict[str, str]
    org_id: str = ""


@dataclass
class Plan:
    writes: StepWrites
    expect: StepExpect
    stats: ApplyStats = field(default_factory=ApplyStats)
    # what each advanced run appended to its agent's window (agent, run, step, messages)
    advanced: list[tuple[str, str, int, list[Message]]] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)  # agents whose run finished or failed
    stale: list[str] = field(default_factory=list)  # agents whose window a summary changed
    pending: list[PendingCall] = field(default_factory=list)


def error_kind(result: ItemResult) -> str:
    if result.error_kind:
        return result.error_kind
    if not result.retryable:
        return "invalid_request"
    return {"expired": "expired", "canceled": "provider_canceled"}.get(
        result.outcome.value, "provider_error"
    )


def _settle_row(item_id: str, result: ItemResult, now: datetime) -> dict[str, Any]:
    response: Any = None
    if result.response_json is not None:
        response = RawJSON(result.response_json)
    elif result.response is not None:
        response = result.response.to_dict()
    return {
        "b_id": item_id,
        "outcome": result.outcome.value,
        "result": response,
        "error": result.error,
        "applied_at": now,
    }


def plan(
    snap: Snapshot,
    results: Mapping[str, ItemResult],
    *,
    now: datetime,
    retry_delay: RetryDelay,
    tool_results: Mapping[ToolKey, ToolResult] | None,
) -> Plan:
    out = Plan(StepWrites(now=now), StepExpect(items=set(snap.items)))
    succeeded: list[str] = []
    for item_id in sorted(snap.items):
        item, result = snap.items[item_id], results[item_id]
        if item_id not in snap.current:
            out.writes.settle.append(_settle_row(item_id, result, now))
            out.stats.ignored += 1
            continue
        run = snap.runs[item.run_id]
        out.expect.runs[run.id] = (run.status, item_id, run.step)
        if result.outcome is Outcome.SUCCEEDED and result.response is not None:
            succeeded.append(item_id)
            continue
        out.writes.settle.append(_settle_row(item_id, result, now))
        out.stats.applied += 1
        _failed_item(out, run, result, snap.jobs[item.job_id].max_attempts, now, retry_delay)
    for item_id in succeeded:
        _succeeded_item(out, snap, item_id, results[item_id], now, tool_results)
    if out.pending:
        return Plan(StepWrites(now=now), StepExpect(), pending=out.pending)
    out.writes.blocks = list(snap.ws.changed.values())
    out.writes.block_edits = history_rows(snap.ws.edits, now)
    out.expect.blocks = {b: snap.ws.original_version(b) for b in snap.ws.touched}
    return out


def _failed_item(
    out: Plan,
    run: RunState,
    result: ItemResult,
    max_attempts: int,
    now: datetime,
    retry_delay: RetryDelay,
) -> None:
    error = f"{result.outcome.value}: {result.error or 'no detail from the provider'}"
    if not result.retryable or run.attempt >= max_attempts:
        if result.retryable:
            error = f"{error} (after {run.attempt} attempt(s))"
        out.ended.append(run.agent_id)
        out.stats.failed += 1
        out.writes.run_updates.append(failed_run(run.id, error, error_kind(result), now))
        return
    out.stats.retried += 1
    out.writes.run_updates.append(
        {
            "b_id": run.id,
            "status": RunStatus.QUEUED.value,
            "attempt": run.attempt + 1,
            "not_before": now + timedelta(seconds=retry_delay(run.attempt)),
            "last_error": error,
            "updated_at": now,
            "lease_owner": None,
            "lease_expires": None,
        }
    )


def _succeeded_item(
    out: Plan,
    snap: Snapshot,
    item_id: str,
    result: ItemResult,
    now: datetime,
    tool_results: Mapping[ToolKey, ToolResult] | None,
) -> None:
    item = snap.items[item_id]
    run = snap.runs[item.run_id]
    if item.kind == "summary":
        _summary_item(out, snap, item, result, now)
        return
    if tool_results is None and needs_outside_tools(result):
        row = _settle_row(item_id, result, now)
        del row["applied_at"]
        out.writes.item_results.append(row)
        out.writes.run_updates.append(
            {
                "b_id": run.id,
                "status": RunStatus.WAITING_TOOLS.value,
                "tool_attempts": 0,
                "updated_at": now,
            }
        )
        out.stats.deferred += 1
        return
    agent, org_id = snap.agents[run.agent_id]
    assert result.response is not None
    snap.ws.editor = Editor(org_id, run.agent_id, run.id, run.step)
    runner = Runner(
        item_id,
        snap.ws,
        tool_results or {},
        {
            "org_id": org_id,
            "agent_id": agent.id,
            "run_id": run.id,
            "created_at": now,
        },
    )
    try:
        outcome = _resolve(snap, run, agent, result, runner)
    except ResultPending as p:
        tool = snap.customs.get(org_id, {}).get(p.call.name)
        memory = snap.ws.memory_dict(agent.id)
        out.pending.append(PendingCall((item_id, p.call), agent, tool, p.arguments, memory, org_id))
        return
    out.writes.settle.append(_settle_row(item_id, result, now))
    out.stats.applied += 1
    keep = any(r.kind == "conditional" for r in agent.rules)  # last output: conditional rules
    step_rows(outcome, run, org_id, result, now, out.writes, keep)
    out.writes.passages.extend(runner.passages)
    counted = (item.context or {}).get("tokens")
    if counted is not None:
        out.writes.run_updates[-1]["context_tokens"] = max(run.context_tokens or 0, int(counted))
        out.writes.run_updates[-1]["context_window"] = (item.context or {}).get("window")
    if outcome.done:
        out.ended.append(run.agent_id)
        out.stats.completed += 1
        if agent.message_buffer_autoclear:
            out.writes.autoclear.append(run.agent_id)
        return
    appended = [outcome.assistant, *outcome.tool_messages]
    if outcome.heartbeat is not None:
        appended.append(outcome.heartbeat)
    out.advanced.append((run.agent_id, run.id, run.step, appended))
    out.stats.continued += 1


def _summary_item(
    out: Plan, snap: Snapshot, item: ItemRef, result: ItemResult, now: datetime
) -> None:
    run = snap.runs[item.run_id]
    _agent, org_id = snap.agents[run.agent_id]
    if not plan_summary(item, run, org_id, result, out.writes, now):
        empty = ItemResult(item.id, Outcome.ERRORED, error="the summary step returned no text")
        _failed_item(out, run, empty, snap.jobs[item.job_id].max_attempts, now, _no_delay)
    out.writes.settle.append(_settle_row(item.id, result, now))
    out.stats.applied += 1
    out.stats.summarised += 1
    out.stale.append(run.agent_id)


def _no_delay(_attempt: int) -> float:
    return 0.0


def _resolve(
    snap: Snapshot, run: RunState, agent: AgentSpec, result: ItemResult, runner: Runner
) -> StepOutcome:
    assert result.response is not None
    org_id = snap.agents[run.agent_id][1]
    return resolve_step(
        agent,
        RuleSet(agent.rules),
        SolverState.from_dict(run.solver_state),
        result.response,
        catalog=snap.catalog(org_id),
        runner=runner,
        steps_done=run.step + 1,
        max_steps=snap.jobs[run.job_id].max_steps,
    )
