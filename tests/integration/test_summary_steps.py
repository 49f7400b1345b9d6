"""Summary steps as transitions: a failed summary is retried like any item, a cancel during
a summary step changes nothing in the window, and a request that cannot fit is never sent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from agentbatch.app import AgentBatch
from agentbatch.testing.recording import RecordingProvider
from tests.helpers import make_agents, run_job

STEPS = [
    {"tool": "send_message", "args": {"message": "Reading {input}"}, "heartbeat": True},
    {"tool": "send_message", "args": {"message": "Done with {input}"}, "heartbeat": False},
]
TEXT = "a long note about the harbour timetable and the ferry fares " * 6


async def _agent(app: AgentBatch, window: int = 1500) -> str:
    [agent_id] = await make_agents(
        app,
        1,
        model_settings={"context_window": window, "max_tokens": 100},
        tools=["send_message"],
    )
    return agent_id


async def _items(app: AgentBatch) -> list[tuple[Any, ...]]:
    from agentbatch.store.tables import batch_items

    async with app.db.read() as conn:
        rows = await conn.execute(
            select(batch_items.c.kind, batch_items.c.outcome, batch_items.c.applied).order_by(
                batch_items.c.created_at
            )
        )
        return [tuple(r) for r in rows]


async def _window(app: AgentBatch, agent_id: str) -> list[str]:
    from agentbatch.step.window import order_window
    from agentbatch.store.messages import load_context

    async with app.db.read() as conn:
        window = (await load_context(conn, [agent_id])).get(agent_id, [])
    return [m.kind for m in order_window(window)]


async def test_a_failed_summary_step_is_retried(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    agent_id = await _agent(app)
    options = {"summary_fail": ["errored"]}
    for i in range(4):
        job = await run_job(app, [agent_id], script=STEPS, messages=f"{i}: {TEXT}", options=options)
        assert job["status"] == "completed"
    summaries = [i for i in await _items(app) if i[0] == "summary"]
    assert ("summary", "errored", True) in summaries
    assert ("summary", "succeeded", True) in summaries
    assert (await _window(app, agent_id))[0] == "summary"
    assert recorder.inner.refused == []  # type: ignore[attr-defined]


async def test_cancel_during_a_summary_step_leaves_the_window_alone(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    agent_id = await _agent(app)
    worker = app.worker()
    cancelled: list[str] = []

    async def cancel_summaries(batch_id: str, job_id: str) -> None:
        if ("summary", None, False) in await _items(app):  # recorded, not yet sent
            await app.jobs.cancel_job(app.org_id, job_id)
            cancelled.append(job_id)

    worker.ctx.hooks.on("recorded", cancel_summaries)
    for i in range(8):  # jobs until one takes a summary step, cancelled as it is sent
        before = await _window(app, agent_id)
        created = await app.jobs.create_job(
            app.org_id,
            {
                "requests": [{"agent_id": agent_id, "messages": f"{i}: {TEXT}"}],
                "options": {"script": STEPS},
            },
        )
        status = await worker.run_until(created["id"], timeout_s=60)
        if cancelled:
            break
        assert status == "completed"
    assert cancelled and status == "cancelled"
    for _ in range(5):
        await worker.tick()
    assert ("summary", None, False) not in await _items(app)  # settled by the cancel
    after = await _window(app, agent_id)
    # nothing left the window and no summary was written: only this job's messages added
    assert after[: len(before)] == before
    assert "summary" not in after[len(before) :]
    assert recorder.inner.refused == []  # type: ignore[attr-defined]


async def test_a_request_that_cannot_fit_fails_without_being_sent(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    agent_id = await _agent(app, window=600)
    job = await run_job(app, [agent_id], script=STEPS, messages=TEXT * 4)
    assert job["status"] == "failed"
    runs = await app.jobs.job_runs(None, job["id"])
    assert "context window" in runs[0]["last_error"]
    assert recorder.requests[agent_id] == []
    from agentbatch.store.tables import batch_items

    async with app.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(batch_items))).scalar_one() == 0
