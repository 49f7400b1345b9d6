"""Each tool-rule kind changes what a run does (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

from agentbatch.app import AgentBatch
from agentbatch.testing.recording import RecordingProvider
from tests.helpers import history, make_agents, run_job

TOOLS = ["send_message", "core_memory_append", "conversation_search"]
BLOCKS = [{"label": "human", "value": ""}]


def call(tool: str, heartbeat: bool = True, **args: Any) -> dict[str, Any]:
    return {"tool": tool, "args": args or _default_args(tool), "heartbeat": heartbeat}


def _default_args(tool: str) -> dict[str, Any]:
    return {
        "send_message": {"message": "hi"},
        "core_memory_append": {"label": "human", "content": "x"},
        "conversation_search": {"query": "hello"},
    }[tool]


async def _run(
    app: AgentBatch, rules: list[dict[str, Any]], script: list[dict[str, Any]], max_steps: int = 5
) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    [agent_id] = await make_agents(app, 1, tools=TOOLS, blocks=BLOCKS, tool_rules=rules)
    job = await run_job(app, [agent_id], script=script, max_steps=max_steps)
    [run] = await app.jobs.job_runs(None, job["id"])
    return agent_id, run, await history(app, job["id"], agent_id)


def results(msgs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["name"], json.loads(m["content"])["status"]) for m in msgs if m["kind"] == "tool"]


async def test_init_rule_limits_first_request(app: AgentBatch, recorder: RecordingProvider) -> None:
    agent_id, run, msgs = await _run(
        app,
        [{"type": "init", "tool": "core_memory_append"}],
        [call("send_message"), call("core_memory_append"), call("send_message", heartbeat=False)],
    )
    first = recorder.requests[agent_id][0]
    assert [t.name for t in first.tools] == ["core_memory_append"]
    assert first.tool_choice == "required"
    assert results(msgs) == [
        ("send_message", "Failed"),
        ("core_memory_append", "OK"),
        ("send_message", "OK"),
    ]


async def test_terminal_rule_ends_run_despite_heartbeat(app: AgentBatch) -> None:
    _, run, msgs = await _run(
        app,
        [{"type": "terminal", "tool": "core_memory_append"}],
        [call("core_memory_append", heartbeat=True), call("send_message")],
    )
    assert (
        run["status"] == "completed" and run["stop_reason"] == "terminal_tool" and run["step"] == 1
    )


async def test_continue_rule_forces_another_step(app: AgentBatch) -> None:
    _, run, msgs = await _run(
        app,
        [{"type": "continue", "tool": "core_memory_append"}],
        [call("core_memory_append", heartbeat=False), call("send_message", heartbeat=False)],
    )
    assert run["step"] == 2
    assert results(msgs) == [("core_memory_append", "OK"), ("send_message", "OK")]


async def test_child_rule_restricts_next_tools(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    agent_id, run, msgs = await _run(
        app,
        [{"type": "child", "tool": "core_memory_append", "children": ["send_message"]}],
        [
            call("core_memory_append"),
            call("conversation_search"),
            call("send_message", heartbeat=False),
        ],
    )
    assert [t.name for t in recorder.requests[agent_id][1].tools] == ["send_message"]
    assert results(msgs)[1] == ("conversation_search", "Failed")
    assert run["status"] == "completed"


async def test_conditional_rule_follows_tool_output(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    # conversation_search finds nothing -> its output starts "No messages" (not mapped) -> default
    rules = [
        {
            "type": "conditional",
            "tool": "conversation_search",
            "mapping": {"found": "core_memory_append"},
            "default_child": "send_message",
        }
    ]
    agent_id, run, msgs = await _run(
        app,
        rules,
        [call("conversation_search", query="zzz-not-there"), call("send_message", heartbeat=False)],
    )
    assert [t.name for t in recorder.requests[agent_id][1].tools] == ["send_message"]
    assert run["status"] == "completed"
    assert results(msgs) == [("conversation_search", "OK"), ("send_message", "OK")]


async def test_parent_rule_blocks_children_until_parent(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    agent_id, run, msgs = await _run(
        app,
        [{"type": "parent", "tool": "conversation_search", "children": ["core_memory_append"]}],
        [
            call("core_memory_append"),
            call("conversation_search"),
            call("core_memory_append"),
            call("send_message", heartbeat=False),
        ],
    )
    first_tools = [t.name for t in recorder.requests[agent_id][0].tools]
    assert "core_memory_append" not in first_tools
    assert "core_memory_append" in [t.name for t in recorder.requests[agent_id][2].tools]
    assert results(msgs)[:3] == [
        ("core_memory_append", "Failed"),
        ("conversation_search", "OK"),
        ("core_memory_append", "OK"),
    ]


async def test_max_count_rule(app: AgentBatch, recorder: RecordingProvider) -> None:
    agent_id, run, msgs = await _run(
        app,
        [{"type": "max_count_per_step", "tool": "core_memory_append", "max_count": 1}],
        [
            call("core_memory_append"),
            call("core_memory_append"),
            call("send_message", heartbeat=False),
        ],
    )
    assert "core_memory_append" not in [t.name for t in recorder.requests[agent_id][1].tools]
    assert results(msgs) == [
        ("core_memory_append", "OK"),
        ("core_memory_append", "Failed"),
        ("send_message", "OK"),
    ]
    agent = await app.agents.get_agent(app.org_id, agent_id)
    assert agent["blocks"][0]["value"] == "x"


async def test_required_before_exit_keeps_run_going(app: AgentBatch) -> None:
    _, run, msgs = await _run(
        app,
        [{"type": "required_before_exit", "tool": "core_memory_append"}],
        [{"text": "I am done."}, call("core_memory_append", heartbeat=False)],
    )
    heartbeat = next(m for m in msgs if m["kind"] == "heartbeat")
    assert "core_memory_append" in heartbeat["content"]
    assert run["step"] == 2 and run["stop_reason"] == "end_turn"
