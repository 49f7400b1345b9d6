"""Retries, per-run failures, bad input, cancel (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from agentbatch.app import AgentBatch
from agentbatch.errors import Conflict, InvalidInput, NotFound
from agentbatch.testing.recording import RecordingProvider
from tests.helpers import history, kinds, make_agents, run_job

REPLY = {"tool": "send_message", "args": {"message": "ok"}, "heartbeat": False}


async def test_errored_and_expired_items_are_retried_then_succeed(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await make_agents(app, 4)
    script = [{**REPLY, "fail": ["errored", "expired"]}]
    job = await run_job(app, ids, script=script, max_steps=2)
    assert job["status"] == "completed" and job["runs"]["completed"] == 4
    for agent_id in ids:
        attempts = [r.attempt for r in recorder.requests[agent_id]]
        assert attempts == [1, 2, 3]
        assert kinds(await history(app, job["id"], agent_id)) == ["input", "assistant", "tool"]
    assert job["usage"]["model_calls"] == 4  # failed attempts are not steps


async def test_item_that_keeps_failing_fails_only_its_run(app: AgentBatch) -> None:
    good = await make_agents(app, 3, model_settings={"script": [REPLY]})
    [bad] = await make_agents(app, 1, model_settings={"script": [{**REPLY, "fail": "always"}]})
    job = await run_job(app, [*good, bad], max_steps=2)
    assert job["status"] == "completed"
    assert job["runs"]["completed"] == 3 and job["runs"]["failed"] == 1
    [failed] = await app.jobs.job_runs(None, job["id"], status="failed")
    assert failed["agent_id"] == bad
    assert (
        "scripted failure" in failed["last_error"] and "after 3 attempt(s)" in failed["last_error"]
    )
    assert kinds(await history(app, job["id"], bad)) == ["input"]  # no half-applied step


async def test_job_fails_when_every_run_fails(app: AgentBatch) -> None:
    ids = await make_agents(app, 2)
    job = await run_job(app, ids, script=[{**REPLY, "fail": "always"}], max_attempts=1)
    assert job["status"] == "failed" and job["runs"]["failed"] == 2


async def test_bad_job_input_is_rejected_and_changes_nothing(app: AgentBatch) -> None:
    [a, b] = await make_agents(app, 2)
    cases = [
        ({"requests": []}, "requests must not be empty"),
        (
            {"requests": [{"agent_id": a, "messages": "x"}, {"agent_id": a, "messages": "y"}]},
            "duplicate agent",
        ),
        ({"requests": [{"agent_id": "agent-nope", "messages": "x"}]}, "unknown agent id"),
        ({"requests": [{"agent_id": a, "messages": []}]}, "messages must be a non-empty list"),
        (
            {"requests": [{"agent_id": a, "messages": [{"role": "system", "content": "x"}]}]},
            "must be 'user'",
        ),
        (
            {"requests": [{"agent_id": a, "messages": [{"role": "user", "content": 3}]}]},
            "non-empty string",
        ),
        ({"requests": [{"agent_id": a}]}, "messages"),
        ({"requests": [{"agent_id": a, "messages": "x"}], "max_steps": 0}, "max_steps"),
        (
            {"requests": [{"agent_id": a, "messages": "x"}], "options": {"script": [{"nope": 1}]}},
            "script",
        ),
    ]
    for body, needle in cases:
        with pytest.raises(InvalidInput, match=needle):
            await app.jobs.create_job(app.org_id, body)
    assert await app.jobs.list_jobs(app.org_id) == []


async def test_bad_agent_input_is_rejected(app: AgentBatch) -> None:
    bad = [
        ({"name": "x", "tools": ["send_message", "nope"]}, "unknown tool"),
        (
            {
                "name": "x",
                "tool_rules": [
                    {"type": "child", "tool": "send_message", "children": ["rethink_memory"]}
                ],
            },
            "does not have: rethink_memory",
        ),
        (
            {"name": "x", "tool_rules": [{"type": "sometimes", "tool": "send_message"}]},
            "unknown tool rule type",
        ),
        ({"name": "x", "model": "nomodel"}, "provider/model"),
        ({"name": "x", "model": "acme/x"}, "unknown provider"),
        ({"name": "x", "blocks": [{"label": "a", "value": "xxx", "limit": 2}]}, "over its limit"),
        ({"name": "x", "blocks": [{"label": "a"}, {"label": "a"}]}, "unique"),
        ({"name": "x", "block_ids": ["block-missing"]}, "unknown block"),
        ({"name": ""}, "name"),
        ({"name": "x", "surprise": 1}, "surprise"),
    ]
    for body, needle in bad:
        with pytest.raises(InvalidInput, match=needle):
            await app.agents.create_agent(app.org_id, body)
    assert await app.agents.list_agents(app.org_id) == []


async def test_agent_in_a_running_job_cannot_join_another(app: AgentBatch) -> None:
    [a] = await make_agents(app, 1)
    await app.jobs.create_job(app.org_id, {"requests": [{"agent_id": a, "messages": "x"}]})
    with pytest.raises(Conflict, match="unfinished run"):
        await app.jobs.create_job(app.org_id, {"requests": [{"agent_id": a, "messages": "y"}]})


async def test_cancel_mid_job_leaves_consistent_state(app: AgentBatch) -> None:
    ids = await make_agents(
        app,
        5,
        blocks=[{"label": "human", "value": ""}],
        tools=["send_message", "core_memory_append"],
    )
    script = [
        {
            "tool": "core_memory_append",
            "args": {"label": "human", "content": "s{step}"},
            "heartbeat": True,
        }
    ] * 5
    job = await app.jobs.create_job(
        app.org_id,
        {
            "requests": [{"agent_id": a, "messages": "go"} for a in ids],
            "max_steps": 5,
            "options": {"script": script, "polls": 3},
        },
    )
    worker = app.worker()
    for _ in range(3):  # submit, then poll while the batch stays in progress
        await worker.tick()
    cancelled = await app.jobs.cancel_job(app.org_id, job["id"])
    assert cancelled["status"] == "cancelled" and cancelled["runs"]["cancelled"] == 5
    for _ in range(5):
        await worker.tick()  # late results must change nothing
    after = await app.jobs.get_job(app.org_id, job["id"])
    assert after["status"] == "cancelled" and after["runs"]["cancelled"] == 5
    for agent_id in ids:
        msgs = await history(app, job["id"], agent_id)
        assert kinds(msgs) == ["input"]
        assert (await app.agents.get_agent(app.org_id, agent_id))["blocks"][0]["value"] == ""
    with pytest.raises(Conflict, match="already cancelled"):
        await app.jobs.cancel_job(app.org_id, job["id"])


async def test_cancel_never_overwrites_a_finished_job(app: AgentBatch) -> None:
    ids = await make_agents(app, 1)
    job = await run_job(app, ids, script=[REPLY])
    with pytest.raises(Conflict, match="already completed"):
        await app.jobs.cancel_job(app.org_id, job["id"])
    assert (await app.jobs.get_job(app.org_id, job["id"]))["status"] == "completed"
    with pytest.raises(NotFound):
        await app.jobs.cancel_job(app.org_id, "job-missing")
