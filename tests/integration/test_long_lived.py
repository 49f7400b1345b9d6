"""Long-lived agents on a small window: 40 jobs of 3 steps each, the history summarised
through the batch, every request within the window (the scripted provider refuses any
that is not), and the first job's fact found again by conversation_search."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from agentbatch.app import AgentBatch
from agentbatch.providers.scripted_model import request_tokens, summarise
from agentbatch.step.window import SUMMARY_HEAD
from agentbatch.store.tables import batch_items, messages
from agentbatch.testing.recording import RecordingProvider
from tests.helpers import make_agents, run_job

WINDOW = 4000
MAX_TOKENS = 256
FACT = "fact:alpha-7"
JOB_STEPS = [
    {"tool": "send_message", "args": {"message": "Reading: {input}"}, "heartbeat": True},
    {"tool": "send_message", "args": {"message": "Thinking about {input}"}, "heartbeat": True},
    {"tool": "send_message", "args": {"message": "Done with {input}"}, "heartbeat": False},
]
RECALL = [
    {"tool": "conversation_search", "args": {"query": FACT}, "heartbeat": True},
    {"tool": "send_message", "args": {"message": "found it"}, "heartbeat": False},
]
FILLER = "the weather report, the shipping schedule and the minutes of the weekly meeting"


def job_input(i: int) -> str:
    text = f"job {i}: please file {FILLER}."
    return f"{text} Remember {FACT}." if i == 0 else text


async def _long_agents(app: AgentBatch, n: int) -> list[str]:
    return await make_agents(
        app,
        n,
        model_settings={"context_window": WINDOW, "max_tokens": MAX_TOKENS},
        tools=["send_message", "conversation_search"],
    )


async def _run_jobs(app: AgentBatch, ids: list[str], jobs: int) -> list[dict[str, Any]]:
    out = []
    for i in range(jobs):
        job = await run_job(app, ids, script=JOB_STEPS, messages=job_input(i), max_steps=3)
        assert job["status"] == "completed", job
        out.append(job)
    return out


def _check_requests(recorder: RecordingProvider, agent_id: str) -> int:
    """Every request fits; after the first summary every step's window starts with the
    summary the latest summary step wrote. Returns how many summary steps there were."""
    current: str | None = None
    summaries = 0
    for request in recorder.requests[agent_id]:
        assert request_tokens(request) + request.max_tokens <= WINDOW
        if request.purpose == "summary":
            summaries += 1
            answer = summarise(request.messages[-1].content or "", request.max_tokens)
            current = SUMMARY_HEAD + (answer.content or "")
            continue
        if current is not None:
            assert request.messages[0].kind == "summary"
            assert request.messages[0].content == current
    return summaries


async def test_one_agent_forty_jobs_is_summarised_within_its_window(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    [agent_id] = await _long_agents(app, 1)
    jobs = await _run_jobs(app, [agent_id], 40)

    assert recorder.inner.refused == []  # type: ignore[attr-defined]
    summaries = _check_requests(recorder, agent_id)
    assert summaries >= 3
    steps = sum(j["usage"]["summary_steps"] for j in jobs)
    assert steps == summaries
    assert sum(j["usage"]["model_calls"] for j in jobs) == 40 * 3 + summaries
    # summary steps are batch items like any other, answered and applied
    async with app.db.read() as conn:
        kinds = dict(
            (
                await conn.execute(
                    select(batch_items.c.kind, func.count())
                    .where(batch_items.c.outcome == "succeeded")
                    .group_by(batch_items.c.kind)
                )
            ).all()
        )
        out_of_window = (
            await conn.execute(
                select(func.count()).where(
                    messages.c.agent_id == agent_id, messages.c.in_context.is_(False)
                )
            )
        ).scalar_one()
    assert kinds == {None: 120, "summary": summaries}
    assert out_of_window > 100
    agent = await app.agents.get_agent(app.org_id, agent_id, context=True)
    budget = agent["context"]
    assert budget["window"] == WINDOW and 0 < budget["used"] <= WINDOW * 0.75
    assert budget["summaries"] == summaries and budget["evicted_messages"] == out_of_window
    # the summary keeps the first job's fact, and the history still has the message
    last = [r for r in recorder.requests[agent_id] if r.purpose != "summary"][-1]
    assert FACT in (last.messages[0].content or "")
    recall = await run_job(app, [agent_id], script=RECALL, messages="what was the fact?")
    history = await app.jobs.job_messages(None, recall["id"], agent_id=agent_id)
    tool_result = next(m for m in history if m["kind"] == "tool")
    found = json.loads(json.loads(tool_result["content"])["message"])
    assert any(FACT in hit["content"] and "job 0:" in hit["content"] for hit in found)


@pytest.mark.slow  # 18-21 s per database on an idle machine, over a minute under load
async def test_two_hundred_agents_forty_jobs(app: AgentBatch, recorder: RecordingProvider) -> None:
    ids = await _long_agents(app, 200)
    jobs = await _run_jobs(app, ids, 40)

    assert recorder.inner.refused == []  # type: ignore[attr-defined]
    counts = {a: _check_requests(recorder, a) for a in ids}
    assert min(counts.values()) >= 3
    assert sum(j["usage"]["summary_steps"] for j in jobs) == sum(counts.values())
    assert all(j["runs"]["completed"] == 200 for j in jobs)
    for agent_id in ids[::50]:
        last = [r for r in recorder.requests[agent_id] if r.purpose != "summary"][-1]
        assert FACT in (last.messages[0].content or "")
