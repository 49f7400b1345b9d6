"""The apply pass's pure planning: from a snapshot and results, the rows a chunk writes,
the expectations its commit checks, or the out-of-transaction calls it still needs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from agentbatch.domain.agents import AgentSpec, BlockView
from agentbatch.domain.messages import ToolCall
from agentbatch.domain.model_io import ItemResult, ModelResponse, Outcome, Usage
from agentbatch.runtime.apply.plan import plan
from agentbatch.runtime.apply.snapshot import Snapshot
from agentbatch.step.workspace import MemoryWorkspace
from agentbatch.store.rows import CustomTool, ItemRef, JobSettings, RunState
from agentbatch.tools.builtins import ToolResult

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TOOLS = ("send_message", "core_memory_append", "lookup")
LOOKUP = CustomTool(
    "tool-1",
    "org",
    "lookup",
    "Look something up",
    {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    "def lookup(q: str) -> str: ...",
    {},
)


def _call(name: str, **args: Any) -> ToolCall:
    return ToolCall(f"call-{name}", name, json.dumps({**args, "request_heartbeat": False}))


def _ok(item: str, *calls: ToolCall, usage: int = 10) -> ItemResult:
    response = ModelResponse(tool_calls=calls, usage=Usage(input_tokens=usage))
    return ItemResult(item, Outcome.SUCCEEDED, response=response)


def _snapshot(
    n: int = 1,
    *,
    status: str = "waiting_model",
    attempt: int = 1,
    shared: bool = False,
    max_attempts: int = 3,
) -> Snapshot:
    items, runs, agents, members = {}, {}, {}, {}
    blocks = [BlockView("block-shared", "team", "log:")] if shared else []
    for i in range(n):
        item, run, agent = f"item-{i}", f"run-{i}", f"agent-{i}"
        items[item] = ItemRef(item, run, "job")
        runs[run] = RunState(run, "job", agent, status, 0, attempt, item, None, None, 0, 0, 0, 0)
        agents[agent] = (AgentSpec(agent, agent, "sys", "scripted/x", TOOLS), "org")
        if shared:
            members[agent] = ["block-shared"]
        else:
            blocks.append(BlockView(f"block-{i}", "human", ""))
            members[agent] = [f"block-{i}"]
    current = {i for i, ref in items.items() if runs[ref.run_id].status == status}
    return Snapshot(
        items,
        runs,
        {"job": JobSettings("job", 3, max_attempts, {}, "running")},
        agents,
        MemoryWorkspace(blocks, members),
        {"org": {"lookup": LOOKUP}},
        current,
    )


def _plan(snap: Snapshot, results: list[ItemResult], tools: Any = None) -> Any:
    return plan(
        snap,
        {r.custom_id: r for r in results},
        now=NOW,
        retry_delay=lambda attempt: 7.0 * attempt,
        tool_results=tools,
    )


def test_a_reply_completes_the_run_and_settles_the_item() -> None:
    out = _plan(_snapshot(), [_ok("item-0", _call("send_message", message="hi"), usage=42)])
    [settled] = out.writes.settle
    assert (settled["b_id"], settled["outcome"]) == ("item-0", "succeeded")
    [run] = out.writes.run_updates
    assert (run["status"], run["reply"], run["input_tokens"], run["step"]) == (
        "completed",
        "hi",
        42,
        1,
    )
    assert [m["kind"] for m in out.writes.messages] == ["assistant", "tool"]
    assert out.expect.items == {"item-0"} and out.expect.runs == {
        "run-0": ("waiting_model", "item-0", 0)
    }
    assert (out.stats.completed, out.ended) == (1, ["agent-0"])


def test_a_transient_error_is_retried_after_the_backoff() -> None:
    result = ItemResult("item-0", Outcome.ERRORED, error="overloaded_error: busy")
    out = _plan(_snapshot(attempt=2), [result])
    [run] = out.writes.run_updates
    assert (run["status"], run["attempt"]) == ("queued", 3)
    assert run["not_before"] == NOW + timedelta(seconds=14.0)  # the delay of attempt 2
    assert out.stats.retried == 1 and out.writes.messages == []


def test_a_rejected_request_fails_at_once() -> None:
    result = ItemResult("item-0", Outcome.ERRORED, error="bad max_tokens", retryable=False)
    out = _plan(_snapshot(attempt=1), [result])
    [run] = out.writes.run_updates
    assert (run["status"], run["error_kind"]) == ("failed", "invalid_request")
    assert "bad max_tokens" in run["last_error"] and "attempt" not in run["last_error"]


def test_the_last_attempt_fails_the_run_with_its_kind() -> None:
    result = ItemResult("item-0", Outcome.EXPIRED, error="request expired")
    out = _plan(_snapshot(attempt=3), [result])
    [run] = out.writes.run_updates
    assert (run["status"], run["error_kind"]) == ("failed", "expired")
    assert run["last_error"].endswith("(after 3 attempt(s))")


def test_an_item_that_is_no_longer_current_is_settled_and_ignored() -> None:
    snap = _snapshot(status="cancelled")
    snap.current = set()
    out = _plan(snap, [_ok("item-0", _call("send_message", message="late"))])
    assert out.stats.ignored == 1 and out.writes.run_updates == [] and out.writes.messages == []
    assert [s["b_id"] for s in out.writes.settle] == ["item-0"]
    assert out.expect.runs == {}  # nothing about the run is claimed


def test_outside_tools_defer_the_step_in_the_ingest_phase() -> None:
    out = _plan(_snapshot(), [_ok("item-0", _call("lookup", q="x"))])
    assert out.writes.settle == [] and out.writes.messages == []
    [stored] = out.writes.item_results
    assert stored["b_id"] == "item-0" and "applied_at" not in stored
    [run] = out.writes.run_updates
    assert run["status"] == "waiting_tools" and out.stats.deferred == 1


def test_a_missing_tool_result_is_asked_for_with_memory_at_its_place() -> None:
    calls = (_call("core_memory_append", label="human", content="first"), _call("lookup", q="x"))
    out = _plan(_snapshot(status="waiting_tools"), [_ok("item-0", *calls)], tools={})
    [pending] = out.pending
    assert pending.key == ("item-0", calls[1]) and pending.tool is LOOKUP
    assert pending.memory == {"human": "first"}  # the append before it is visible
    assert out.writes.run_updates == [] and out.writes.settle == []


def test_tool_results_resolve_the_step() -> None:
    call = _call("lookup", q="x")
    tools = {("item-0", call): ToolResult(True, "found it")}
    out = _plan(_snapshot(status="waiting_tools"), [_ok("item-0", call)], tools=tools)
    assert out.pending == []
    tool_msg = next(m for m in out.writes.messages if m["kind"] == "tool")
    assert json.loads(tool_msg["content"]) == {"status": "OK", "message": "found it"}
    assert out.expect.runs == {"run-0": ("waiting_tools", "item-0", 0)}


def test_writers_of_a_shared_block_apply_in_item_order() -> None:
    results = [
        _ok(f"item-{i}", _call("core_memory_append", label="team", content=f"a{i}"))
        for i in range(3)
    ]
    out = _plan(_snapshot(3, shared=True), results)
    [block] = out.writes.blocks
    assert block.value == "log:\na0\na1\na2" and block.version == 4
    assert out.expect.blocks == {"block-shared": 1}  # checked at commit


def _summary_snapshot(status: str = "waiting_model") -> Snapshot:
    snap = _snapshot(status=status)
    context = {
        "evict": 7,
        "summary_tokens": 100,
        "tokens": 900,
        "step_tokens": 1300,
        "window": 2000,
        "note": "evicted harder",
    }
    snap.items["item-0"] = ItemRef("item-0", "run-0", "job", "summary", context)
    return snap


def _summary(text: str | None) -> ItemResult:
    response = ModelResponse(content=text, usage=Usage(input_tokens=900, output_tokens=30))
    return ItemResult("item-0", Outcome.SUCCEEDED, response=response)


def test_a_summary_evicts_writes_the_summary_and_queues_the_step_again() -> None:
    out = _plan(_summary_snapshot(), [_summary("fact:a1 kept")])
    assert out.writes.evict == [("agent-0", 7)]
    [message] = out.writes.messages
    assert message["kind"] == "summary" and message["content"].endswith("fact:a1 kept")
    [run] = out.writes.run_updates
    assert (run["status"], run["attempt"], run["summary_steps"], run["evicted_messages"]) == (
        "queued",
        1,
        1,
        7,
    )
    assert "step" not in run  # the agent's own step is still to come
    assert (run["input_tokens"], run["context_tokens"], run["context_note"]) == (
        900,
        1300,
        "evicted harder",
    )
    assert out.stale == ["agent-0"] and out.stats.summarised == 1
    assert out.expect.runs == {"run-0": ("waiting_model", "item-0", 0)}


def test_a_summary_without_text_is_retried_and_nothing_is_evicted() -> None:
    out = _plan(_summary_snapshot(), [_summary("  ")])
    assert out.writes.evict == [] and out.writes.messages == []
    [run] = out.writes.run_updates
    assert (run["status"], run["attempt"]) == ("queued", 2)


def test_a_summary_for_a_cancelled_run_changes_nothing() -> None:
    snap = _summary_snapshot(status="cancelled")
    snap.current = set()  # read_snapshot expects waiting_model: a cancelled run is not
    out = _plan(snap, [_summary("late")])
    assert out.writes.evict == [] and out.writes.run_updates == [] and out.stats.ignored == 1
