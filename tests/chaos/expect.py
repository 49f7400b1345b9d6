"""What every agent's history and memory must be, and the verdict on what was found (pure).

Each agent runs the same script: ``steps - 1`` memory appends (``n0``, ``n1``, ...) that ask
for a heartbeat, then ``send_message``. Its history in the job is therefore known exactly::

    input@0, assistant@0, tool@0, heartbeat@1, assistant@1, tool@1, ..., assistant@S-1, tool@S-1

and a step is applied atomically (assistant, tool result, memory edit and the next
heartbeat in one transaction), so a cancelled run may only stop at a step boundary: nothing
recorded, the input recorded, or after a whole step.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TERMINAL_RUN = frozenset({"completed", "failed", "cancelled"})
TERMINAL_JOB = frozenset({"completed", "failed", "cancelled"})
# a provider batch in any other status (including one this harness does not know) is open
CLOSED_BATCH = frozenset({"ingested", "failed", "canceled", "cancelled", "expired"})
FAILURE_KINDS = ("lost", "duplicated", "stuck", "inconsistent", "after_cancel")


def script(steps: int) -> list[dict[str, Any]]:
    appends = [
        {
            "tool": "core_memory_append",
            "args": {"label": "human", "content": "n{step}"},
            "heartbeat": True,
        }
        for _ in range(steps - 1)
    ]
    return [
        *appends,
        {"tool": "send_message", "args": {"message": "done {step}"}, "heartbeat": False},
    ]


def expected_history(steps: int) -> list[tuple[str, int]]:
    """(kind, step) of every message a run of ``steps`` steps writes, in order."""
    out = [("input", 0)]
    for s in range(steps):
        out += [("assistant", s), ("tool", s)]
        if s < steps - 1:
            out.append(("heartbeat", s + 1))
    return out


def boundaries(steps: int) -> dict[int, int]:
    """History length -> steps applied, for every length a run may legitimately stop at."""
    out = {0: 0, 1: 0}
    for k in range(1, steps):
        out[1 + 3 * k] = k
    out[3 * steps] = steps
    return out


def expected_memory(applied: int, steps: int) -> list[str]:
    return [f"n{i}" for i in range(min(applied, steps - 1))]


def expected_call(step: int, steps: int) -> tuple[str, str]:
    """(tool name, its content argument) the script makes at ``step``."""
    if step < steps - 1:
        return "core_memory_append", f"n{step}"
    return "send_message", f"done {step}"


@dataclass(frozen=True)
class Msg:
    id: int
    kind: str
    step: int
    tool_calls: Any = None
    is_error: bool = False


@dataclass(frozen=True)
class AgentFacts:
    agent_id: str
    job_id: str
    job_cancelled: bool
    run_status: str | None
    run_error: str | None
    messages: list[Msg]
    memory: str
    # messages committed after the job's cancel (absent from the snapshot taken after it)
    late_messages: tuple[tuple[str, int], ...] = ()  # (kind, step)
    memory_changed_after_cancel: bool = False


@dataclass
class Verdict:
    agent_id: str
    applied: int = 0
    lost: bool = False  # a step that should have been applied was not (run ended)
    duplicated: bool = False  # a message or a memory edit written twice
    stuck: bool = False  # the run never reached a terminal status
    inconsistent: bool = False  # a half-applied step, a gap, wrong content
    after_cancel: bool = False  # a message or memory edit committed after the cancel
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost or self.duplicated or self.stuck or self.inconsistent or self.after_cancel
        )


def _call(message: Msg) -> tuple[str, str]:
    calls = message.tool_calls or []
    if len(calls) != 1:
        return (f"<{len(calls)} calls>", "")
    call = calls[0]
    try:
        args = json.loads(call.get("arguments") or "{}")
    except ValueError:
        args = {}
    value = args.get("content", args.get("message", ""))
    return str(call.get("name")), str(value)


def judge(facts: AgentFacts, steps: int) -> Verdict:
    v = Verdict(facts.agent_id)
    msgs = sorted(facts.messages, key=lambda m: m.id)
    _judge_history(v, msgs, steps)
    _judge_calls(v, msgs, steps)
    _judge_memory(v, facts.memory, steps)
    _judge_run(v, facts, steps)
    if facts.late_messages or facts.memory_changed_after_cancel:
        v.after_cancel = True
        v.problems.append(
            f"written after the cancel (run {facts.run_status}): {list(facts.late_messages)}"
            + (" and a memory edit" if facts.memory_changed_after_cancel else "")
        )
    return v


def _judge_history(v: Verdict, msgs: list[Msg], steps: int) -> None:
    """Duplicates, steps past the last one, and whether the rest stops at a step boundary."""
    expected = expected_history(steps)
    known_pairs = set(expected)
    pairs = [(m.kind, m.step) for m in msgs]
    twice = sorted(p for p, n in Counter(pairs).items() if n > 1)
    if twice:
        v.duplicated = True
        v.problems.append(f"written more than once: {twice}")
    unique = list(dict.fromkeys(pairs))
    beyond = [p for p in unique if p not in known_pairs and p[1] >= steps]
    if beyond:
        # the run's step counter only passes the job's max_steps when a step is re-applied
        v.duplicated = True
        v.problems.append(f"steps past the last one (a step applied again): {beyond}")
    odd = [p for p in unique if p not in known_pairs and p[1] < steps]
    if odd:
        v.inconsistent = True
        v.problems.append(f"unexpected messages: {odd}")
    known = [p for p in unique if p in known_pairs]
    stops = boundaries(steps)
    if known == expected[: len(known)] and len(known) in stops:
        v.applied = stops[len(known)]
    else:
        v.applied = len({s for k, s in known if k == "tool"})
        v.inconsistent = True
        v.problems.append(f"not a whole-step prefix of the expected history: {pairs}")


def _judge_calls(v: Verdict, msgs: list[Msg], steps: int) -> None:
    """Each step's tool call is the script's for that step; another step's call is a replay."""
    script_calls = {expected_call(s, steps): s for s in range(steps)}
    for m in msgs:
        if m.kind == "tool" and m.is_error:
            v.inconsistent = True
            v.problems.append(f"step {m.step}: the tool failed")
        if m.kind != "assistant" or _call(m) == expected_call(m.step, steps):
            continue
        replayed = script_calls.get(_call(m))
        if replayed is not None:
            v.duplicated = True
            v.problems.append(f"step {m.step} replays step {replayed}'s answer")
        else:
            v.inconsistent = True
            v.problems.append(f"step {m.step} called {_call(m)}")


def _judge_memory(v: Verdict, memory: str, steps: int) -> None:
    appends = memory.split("\n") if memory else []
    want = expected_memory(v.applied, steps)
    if appends == want:
        return
    if len(appends) > len(set(appends)) or len(appends) > len(want):
        v.duplicated = True
        v.problems.append(f"memory {appends!r}, expected {want!r}")
    elif len(appends) < len(want) and appends == want[: len(appends)]:
        v.lost = True
        v.problems.append(f"memory edit missing: {appends!r}, expected {want!r}")
    else:
        v.inconsistent = True
        v.problems.append(f"memory {appends!r}, expected {want!r}")


def _judge_run(v: Verdict, facts: AgentFacts, steps: int) -> None:
    status = facts.run_status
    if status is None:
        v.lost = True
        v.problems.append("no run")
        return
    if status not in TERMINAL_RUN:
        v.stuck = True
        v.problems.append(f"run still {status}")
        return
    if status == "failed":
        v.lost = True
        v.problems.append(f"run failed: {facts.run_error}")
    elif status == "completed" and v.applied < steps:
        v.lost = True
        v.problems.append(f"run completed after {v.applied} of {steps} steps")
    elif status == "cancelled" and not facts.job_cancelled:
        v.inconsistent = True
        v.problems.append("run cancelled in a job that was not")
    elif status == "cancelled" and v.applied == steps:
        v.inconsistent = True
        v.problems.append("run cancelled after its last step was applied")


@dataclass
class Summary:
    agents: int = 0
    steps_applied: int = 0
    agents_completed: int = 0
    agents_cancelled: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    inconsistent: int = 0
    after_cancel: int = 0
    failed_agents: int = 0  # agents with any failure (an agent may count in several kinds)
    cancelled_at_step: dict[int, int] = field(default_factory=dict)  # steps applied -> agents
    # up to three examples per failure kind
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, v: Verdict, run_status: str | None) -> None:
        self.agents += 1
        self.steps_applied += v.applied
        self.agents_completed += run_status == "completed"
        if run_status == "cancelled":
            self.agents_cancelled += 1
            self.cancelled_at_step[v.applied] = self.cancelled_at_step.get(v.applied, 0) + 1
        self.lost += v.lost
        self.duplicated += v.duplicated
        self.stuck += v.stuck
        self.inconsistent += v.inconsistent
        self.after_cancel += v.after_cancel
        self.failed_agents += not v.ok
        for kind in FAILURE_KINDS:
            if getattr(v, kind):
                seen = self.examples.setdefault(kind, [])
                if len(seen) < 3:
                    seen.append(f"{v.agent_id}: {'; '.join(v.problems)}")


def summarise(facts: list[AgentFacts], steps: int) -> Summary:
    out = Summary()
    for f in facts:
        out.add(judge(f, steps), f.run_status)
    return out
