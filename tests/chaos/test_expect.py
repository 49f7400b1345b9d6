"""The chaos test's verdicts: each failure it reports is recognised, and every legitimate
stopping point of a cancelled run passes (pure; runs in the default suite)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from agentbatch.providers.scripted import ScriptedProvider
from tests.chaos.checks import open_at_scripted_provider
from tests.chaos.expect import AgentFacts, Msg, boundaries, expected_history, judge, summarise

STEPS = 3


def _msgs(pairs: list[tuple[str, int]], start: int = 1) -> list[Msg]:
    out = []
    for i, (kind, step) in enumerate(pairs):
        calls = None
        if kind == "assistant":
            name, key, value = (
                ("core_memory_append", "content", f"n{step}")
                if step < STEPS - 1
                else ("send_message", "message", f"done {step}")
            )
            calls = [{"name": name, "arguments": json.dumps({key: value})}]
        out.append(Msg(start + i, kind, step, calls))
    return out


def _facts(length: int = 9, status: str = "completed", **kw: object) -> AgentFacts:
    applied = boundaries(STEPS).get(length, 0)
    memory = "\n".join(f"n{i}" for i in range(min(applied, STEPS - 1)))
    base = AgentFacts(
        agent_id="a",
        job_id="j",
        job_cancelled=False,
        run_status=status,
        run_error=None,
        messages=_msgs(expected_history(STEPS)[:length]),
        memory=memory,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_completed_run_with_its_exact_history_and_memory_passes() -> None:
    v = judge(_facts(), STEPS)
    assert v.ok and v.applied == 3, v.problems


def test_a_cancelled_run_may_stop_at_any_step_boundary() -> None:
    for length, applied in boundaries(STEPS).items():
        status = "completed" if applied == STEPS else "cancelled"
        v = judge(_facts(length, status, job_cancelled=True), STEPS)
        assert v.ok and v.applied == applied, (length, v.problems)


def test_a_half_applied_step_is_reported() -> None:
    v = judge(_facts(5, "cancelled", job_cancelled=True), STEPS)  # assistant@1 without tool
    assert v.inconsistent and not v.ok


def test_a_stale_claim_recorded_twice_is_a_duplicate() -> None:
    pairs = [*expected_history(STEPS), ("input", 0)]
    v = judge(_facts(messages=_msgs(pairs), memory="n0\nn1\nn0"), STEPS)
    assert v.duplicated


def test_a_memory_edit_applied_twice_is_a_duplicate() -> None:
    assert judge(_facts(memory="n0\nn0\nn1"), STEPS).duplicated


def test_a_missing_memory_edit_is_lost() -> None:
    assert judge(_facts(memory="n0"), STEPS).lost


def test_a_run_that_ended_early_or_failed_lost_its_steps() -> None:
    assert judge(_facts(4, "completed", memory="n0"), STEPS).lost
    assert judge(_facts(4, "failed", memory="n0"), STEPS).lost


def test_an_unfinished_run_is_stuck() -> None:
    v = judge(_facts(4, "queued", job_cancelled=True), STEPS)
    assert v.stuck and not v.lost


def test_writes_after_the_cancel_are_reported() -> None:
    v = judge(
        _facts(7, "cancelled", job_cancelled=True, late_messages=(("assistant", 2), ("tool", 2))),
        STEPS,
    )
    assert v.after_cancel
    v = judge(_facts(7, "cancelled", job_cancelled=True, memory_changed_after_cancel=True), STEPS)
    assert v.after_cancel


def test_a_cancelled_run_in_a_job_that_was_not_cancelled_is_inconsistent() -> None:
    assert judge(_facts(4, "cancelled"), STEPS).inconsistent


def test_the_summary_counts_agents_per_failure_kind() -> None:
    s = summarise([_facts(), _facts(memory="n0"), _facts(4, "queued")], STEPS)
    assert (s.agents, s.lost, s.stuck, s.failed_agents) == (3, 1, 1, 2)


async def test_open_batches_at_the_scripted_provider_are_found(tmp_path: Path) -> None:
    provider = ScriptedProvider(tmp_path)
    entry = {"custom_id": "i1", "script": [{"text": "x"}], "step": 0, "attempt": 1}
    entry |= {"agent_id": "a", "input": "", "prompt_chars": 0, "polls": 1, "model": "m"}
    running = await provider.submit("m", [entry])
    cancelled = await provider.submit("m", [entry])
    await provider.cancel(cancelled)
    ended = await provider.submit("m", [entry])
    while not (await provider.poll(ended)).ended:
        pass
    assert open_at_scripted_provider(tmp_path) == [running]


def test_a_step_applied_again_past_the_last_one_is_a_duplicate() -> None:
    history = _msgs(expected_history(STEPS))
    replay = Msg(100, "assistant", 3, history[-2].tool_calls)  # step 2's answer again
    v = judge(_facts(messages=[*history, replay, Msg(101, "tool", 3)]), STEPS)
    assert v.duplicated and not v.inconsistent, v.problems


def test_a_wrong_tool_call_is_inconsistent() -> None:
    history = _msgs(expected_history(STEPS))
    history[1] = Msg(2, "assistant", 0, [{"name": "send_message", "arguments": "{}"}])
    v = judge(_facts(messages=history), STEPS)
    assert v.inconsistent and not v.duplicated
