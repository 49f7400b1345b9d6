"""The Gemini emulator counts a request's step per run, as the other emulators do: from the
run's input message, skipping heartbeats and tool results."""

from __future__ import annotations

import json

from agentbatch.testing.google.respond import conversation_facts

HEARTBEAT = json.dumps({"type": "heartbeat", "reason": "[automated system message] go on"})


def _call(name: str) -> dict[str, object]:
    return {"role": "model", "parts": [{"functionCall": {"name": name, "args": {}}}]}


def _result(name: str, *texts: str) -> dict[str, object]:
    parts: list[dict[str, object]] = [
        {"functionResponse": {"name": name, "response": {"status": "OK"}}}
    ]
    return {"role": "user", "parts": parts + [{"text": t} for t in texts]}


def test_a_heartbeat_continues_the_run_and_is_not_its_input() -> None:
    contents = [
        {"role": "user", "parts": [{"text": "green tea"}]},
        _call("core_memory_append"),
        _result("core_memory_append", HEARTBEAT),
    ]
    step, run_input, last = conversation_facts({"contents": contents})
    assert (step, run_input) == (1, "green tea")
    assert HEARTBEAT in last


def test_a_later_run_starts_at_step_zero_even_beside_an_old_tool_result() -> None:
    earlier = [
        {"role": "user", "parts": [{"text": "green tea"}]},
        _call("core_memory_append"),
        _result("core_memory_append", HEARTBEAT),
        _call("send_message"),
    ]
    # consecutive user messages share one content: the old reply's result and the new input
    contents = [*earlier, _result("send_message", "oolong")]
    assert conversation_facts({"contents": contents})[:2] == (0, "oolong")
    contents += [_call("core_memory_append"), _result("core_memory_append", HEARTBEAT)]
    assert conversation_facts({"contents": contents})[:2] == (1, "oolong")
