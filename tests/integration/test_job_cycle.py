"""The full step cycle over many agents, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from agentbatch.app import AgentBatch
from agentbatch.testing.recording import RecordingProvider
from tests.helpers import history, kinds, make_agents, run_job

THREE_STEPS = [
    {
        "tool": "core_memory_append",
        "args": {"label": "human", "content": "likes {input}"},
        "heartbeat": True,
    },
    {
        "tool": "core_memory_append",
        "args": {"label": "team", "content": "{agent_id} checked in"},
        "heartbeat": True,
        "reasoning": "sharing with the team",
    },
    {"tool": "send_message", "args": {"message": "Noted, thanks!"}, "heartbeat": False},
]


async def test_three_step_job_over_fifty_agents(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    shared = await app.agents.create_block(
        app.org_id, {"label": "team", "value": "Team log:", "limit": 20000}
    )
    ids = await make_agents(
        app,
        50,
        blocks=[{"label": "human", "value": "", "limit": 500}],
        block_ids=[shared["id"]],
        tools=["send_message", "core_memory_append"],
    )
    job = await run_job(app, ids, script=THREE_STEPS, messages="green tea", max_steps=3)

    assert job["status"] == "completed"
    assert job["runs"]["completed"] == 50
    assert job["usage"]["model_calls"] == 150

    for agent_id in ids:
        msgs = await history(app, job["id"], agent_id)
        assert kinds(msgs) == [
            "input",
            "assistant",
            "tool",
            "heartbeat",
            "assistant",
            "tool",
            "heartbeat",
            "assistant",
            "tool",
        ]
        assert msgs[0]["content"] == "green tea"
        # tool results pair with the provider's call ids, and every call succeeded
        for call_msg, result in ((msgs[1], msgs[2]), (msgs[4], msgs[5]), (msgs[7], msgs[8])):
            assert result["tool_call_id"] == call_msg["tool_calls"][0]["id"]
            assert json.loads(result["content"])["status"] == "OK"
        assert msgs[4]["reasoning"] == "sharing with the team"
        assert len({m["id"] for m in msgs}) == len(msgs)
        agent = await app.agents.get_agent(app.org_id, agent_id)
        human = next(b for b in agent["blocks"] if b["label"] == "human")
        assert human["value"] == "likes green tea"

        # memory edits show in the next request's system message; input stays in context
        requests = recorder.requests[agent_id]
        assert [r.step for r in requests] == [0, 1, 2]
        assert "likes green tea" not in requests[0].system
        assert "likes green tea" in requests[1].system
        assert f"{agent_id} checked in" in requests[2].system
        assert requests[1].messages[0].content == "green tea"
        assert [m.kind for m in requests[2].messages] == kinds(msgs)[:7]
        assert all(any(t.name == "core_memory_append" for t in r.tools) for r in requests)
        assert all("request_heartbeat" in r.tools[0].parameters["required"] for r in requests)

    team = await app.agents.get_block(app.org_id, shared["id"])
    assert team["version"] == 51  # one write per agent, none lost
    for agent_id in ids:
        assert team["value"].count(f"{agent_id} checked in") == 1

    run_rows = await app.jobs.job_runs(None, job["id"], limit=100)
    assert {r["reply"] for r in run_rows} == {"Noted, thanks!"}
    assert {r["stop_reason"] for r in run_rows} == {"end_turn"}


async def test_text_answer_and_failed_calls_do_not_crash(app: AgentBatch) -> None:
    ids = await make_agents(
        app,
        3,
        blocks=[{"label": "human", "value": "", "limit": 20}],
        tools=["send_message", "core_memory_append"],
    )
    script = [
        {
            "tool_calls": [
                {"tool": "core_memory_append", "raw_arguments": "{not json"},
                {"tool": "web_search", "args": {"q": "x"}},
                {"tool": "core_memory_append", "args": {"label": "nope", "content": "x"}},
                {"tool": "core_memory_append", "args": {"label": "human"}},
                {"tool": "core_memory_append", "args": {"label": "human", "content": "x" * 50}},
            ]
        },
        {"text": "Plain answer, no tools."},
    ]
    job = await run_job(app, ids, script=script, max_steps=5)
    assert job["status"] == "completed"
    for agent_id in ids:
        msgs = await history(app, job["id"], agent_id)
        assert kinds(msgs) == ["input", "assistant"] + ["tool"] * 5 + ["heartbeat", "assistant"]
        results = [json.loads(m["content"]) for m in msgs[2:7]]
        assert all(r["status"] == "Failed" for r in results)
        assert "not valid JSON" in results[0]["message"]
        assert "unknown tool 'web_search'" in results[1]["message"]
        assert "no memory block labelled 'nope'" in results[2]["message"]
        assert "missing required argument 'content'" in results[3]["message"]
        assert "over its limit of 20" in results[4]["message"]
        assert msgs[-1]["content"] == "Plain answer, no tools."
        agent = await app.agents.get_agent(app.org_id, agent_id)
        assert agent["blocks"][0]["value"] == ""  # nothing silently truncated or half-written
    runs = await app.jobs.job_runs(None, job["id"])
    assert {r["stop_reason"] for r in runs} == {"final_reply"}
    assert {r["reply"] for r in runs} == {"Plain answer, no tools."}


async def test_bulk_memory_tool_does_not_drop_other_agents_calls(app: AgentBatch) -> None:
    """Seed pitfall 2: one agent's rethink_memory must not swallow others' tool calls."""
    rethinker = await make_agents(
        app,
        1,
        blocks=[{"label": "human", "value": "old"}],
        tools=["send_message", "rethink_memory"],
        model_settings={
            "script": [
                {
                    "tool": "rethink_memory",
                    "args": {"target_block_label": "human", "new_memory": "new"},
                }
            ]
        },
    )
    others = await make_agents(
        app,
        4,
        blocks=[{"label": "human", "value": ""}],
        tools=["send_message", "core_memory_append"],
        model_settings={
            "script": [{"tool": "core_memory_append", "args": {"label": "human", "content": "a"}}]
        },
    )
    job = await run_job(app, rethinker + others, max_steps=1)
    assert job["runs"]["completed"] == 5
    assert (await app.agents.get_agent(app.org_id, rethinker[0]))["blocks"][0]["value"] == "new"
    for agent_id in others:
        assert (await app.agents.get_agent(app.org_id, agent_id))["blocks"][0]["value"] == "a"


async def test_autoclear_agent_keeps_memory_but_not_context(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    [agent_id] = await make_agents(
        app,
        1,
        blocks=[{"label": "human", "value": ""}],
        tools=["send_message", "core_memory_append"],
        message_buffer_autoclear=True,
    )
    script = [
        {
            "tool": "core_memory_append",
            "args": {"label": "human", "content": "{input}"},
            "heartbeat": False,
        }
    ]
    await run_job(app, [agent_id], script=script, messages="first", max_steps=2)
    await run_job(app, [agent_id], script=script, messages="second", max_steps=2)
    second = recorder.requests[agent_id][-1]
    assert [m.content for m in second.messages] == ["second"]  # history stored, not in context
    assert "first" in second.system  # but memory persisted
    agent = await app.agents.get_agent(app.org_id, agent_id)
    assert agent["blocks"][0]["value"] == "first\nsecond"


async def test_provider_batches_split_at_the_byte_limit(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    """Requests are split into provider batches by the encoded payload's size, not only by
    count, and every agent still completes."""
    import json as _json

    from agentbatch.providers.base import BatchLimits

    recorder.limits = BatchLimits(max_requests=1000, max_bytes=1000)
    ids = await make_agents(app, 12)
    job = await run_job(app, ids, script=[{"tool": "send_message", "args": {"message": "ok"}}])
    assert job["status"] == "completed" and job["runs"]["completed"] == 12
    assert len(recorder.submits) > 1  # one batch would have exceeded 1,000 bytes
    assert sum(n for _, n in recorder.submits) == 12
    entry = recorder.inner.encode("item-x", recorder.requests[ids[0]][0])
    per_request = len(_json.dumps(entry, separators=(",", ":")).encode()) + 1
    assert per_request * 12 > 1000
    assert max(n for _, n in recorder.submits) <= max(1, 1000 // per_request)
