"""Shared pieces of the fenced-transition tests: a controllable clock, a provider wrapper
whose calls can be held or altered, the job these tests run, and the checks every test
makes (the job ended, nothing active, no duplicate, nothing left running)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from agentbatch.app import AgentBatch
from agentbatch.domain.model_io import ItemResult
from agentbatch.ids import utcnow
from agentbatch.store.tables import messages, provider_batches, runs
from agentbatch.testing.recording import RecordingProvider
from tests.helpers import make_agents

STEPS = [
    {
        "tool": "core_memory_append",
        "args": {"label": "human", "content": "n{step}"},
        "heartbeat": True,
    },
    {"tool": "send_message", "args": {"message": "done"}, "heartbeat": False},
]
EXPECTED = ["input", "assistant", "tool", "heartbeat", "assistant", "tool"]


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Held:
    """Wraps a provider: ``submit`` can be held until released; results can be altered."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.limits = inner, inner.name, inner.limits
        self.poll_interval_s = 0.0
        self.hold_submit = False
        self.submit_started = asyncio.Event()
        self.release = asyncio.Event()
        self.alter: Callable[[ItemResult], ItemResult] | None = None

    def encode(self, custom_id: str, request: Any) -> dict[str, Any]:
        return self.inner.encode(custom_id, request)

    async def submit(self, model: str, entries: Sequence[dict[str, Any]], tag: Any = None) -> str:
        handle = await self.inner.submit(model, entries, tag)
        if self.hold_submit:  # created at the provider; the answer is slow to come back
            self.submit_started.set()
            await self.release.wait()
        return handle

    async def poll(self, handle: str) -> Any:
        return await self.inner.poll(handle)

    async def results(self, handle: str) -> AsyncIterator[ItemResult]:
        async for item in self.inner.results(handle):
            yield self.alter(item) if self.alter is not None else item

    async def cancel(self, handle: str) -> None:
        await self.inner.cancel(handle)

    async def cleanup(self, handle: str) -> None:
        await self.inner.cleanup(handle)

    async def find_orphans(self, tag: Any) -> list[str]:
        return await self.inner.find_orphans(tag)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def agents(app: AgentBatch, n: int = 6) -> list[str]:
    return await make_agents(
        app,
        n,
        blocks=[{"label": "human", "value": ""}],
        tools=["send_message", "core_memory_append"],
    )


async def start(app: AgentBatch, ids: list[str], script: Any = None, **options: Any) -> str:
    job = await app.jobs.create_job(
        app.org_id,
        {
            "requests": [{"agent_id": a, "messages": "hi"} for a in ids],
            "max_steps": 3,
            "options": {"script": script or STEPS, **options},
        },
    )
    return str(job["id"])


async def job_messages(app: AgentBatch, job_id: str) -> list[Any]:
    async with app.db.read() as conn:
        rows = await conn.execute(
            select(messages).where(messages.c.job_id == job_id).order_by(messages.c.id)
        )
        return list(rows.all())


async def batch_rows(app: AgentBatch, job_id: str) -> list[Any]:
    async with app.db.read() as conn:
        rows = await conn.execute(
            select(provider_batches)
            .where(provider_batches.c.job_id == job_id)
            .order_by(provider_batches.c.created_at)
        )
        return list(rows.all())


async def assert_consistent(app: AgentBatch, job_id: str, ids: list[str]) -> dict[str, Any]:
    """The job ended; no run is active; each agent's history is a whole-step prefix of the
    expected one, without duplicates, and its memory holds exactly the applied edits."""
    job = await app.jobs.get_job(None, job_id)
    assert job["status"] in ("completed", "failed", "cancelled"), job
    async with app.db.read() as conn:
        states = (await conn.execute(select(runs.c.status).where(runs.c.job_id == job_id))).all()
    assert {s.status for s in states} <= {"completed", "failed", "cancelled"}
    rows = await job_messages(app, job_id)
    for agent_id in ids:
        mine = [r for r in rows if r.agent_id == agent_id]
        kinds = [r.kind for r in mine]
        assert kinds == EXPECTED[: len(kinds)], (agent_id, kinds)
        assert len(kinds) in (0, 1, 4, 6), (agent_id, kinds)  # never half a step
        steps = Counter((r.step, r.kind) for r in mine)
        assert all(n == 1 for n in steps.values()), steps
        edits = sum(1 for r in mine if r.kind == "tool" and r.name == "core_memory_append")
        block = (await app.agents.get_agent(app.org_id, agent_id))["blocks"][0]["value"]
        assert block == ("n0" if edits else ""), (agent_id, block, edits)
    return job


def assert_nothing_running(recorder: RecordingProvider) -> None:
    """Every batch the scripted provider was given has ended or was cancelled there."""
    inner: Any = recorder.inner
    assert [h for h, _ in recorder.submits if inner.is_open(h)] == []
