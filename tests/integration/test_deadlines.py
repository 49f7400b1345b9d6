"""Deadlines through the Anthropic emulator with an injected clock (SQLite and PostgreSQL):
the emulator's batches take 30 simulated minutes, so a 3-step job takes over 90 minutes
through the batch; with a 45-minute deadline it finishes in time, its late steps sent
through the live Messages API (counted), nothing applied twice. A step stuck in a batch
slower than learned is sent again live; the batch's answer, when it comes, is ignored."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from agentbatch.app import AgentBatch
from agentbatch.ids import as_utc
from agentbatch.providers.anthropic import AnthropicBatchProvider
from agentbatch.providers.registry import ProviderRegistry
from agentbatch.runtime.worker import Worker
from agentbatch.store.tables import batch_items, messages, provider_batches
from agentbatch.testing.anthropic import AnthropicEmulator
from agentbatch.testing.server import BackgroundServer
from tests.conftest import fast_settings
from tests.integration.fencing_support import Clock

SCRIPT = [
    {
        "tool": "core_memory_append",
        "args": {"label": "human", "content": "a{step}"},
        "heartbeat": True,
    },
    {
        "tool": "core_memory_append",
        "args": {"label": "human", "content": "b{step}"},
        "heartbeat": True,
    },
    {"tool": "send_message", "args": {"message": "done"}, "heartbeat": False},
]
KINDS = ["input", *["assistant", "tool", "heartbeat"] * 2, "assistant", "tool"]
BATCH_S = 1800.0


class Setup:
    def __init__(self, clock: Clock, emulator: AnthropicEmulator, app: AgentBatch) -> None:
        self.clock, self.emu, self.app = clock, emulator, app

    def worker(self) -> Worker:
        async def sleep(seconds: float) -> None:  # idle: simulated time passes
            self.clock.advance(60)

        return self.app.worker(clock=self.clock, sleep=sleep)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> Iterator[tuple[AnthropicEmulator, BackgroundServer]]:
    emu = AnthropicEmulator(SCRIPT, clock=clock, batch_seconds=BATCH_S)
    with emu.serve() as server:
        yield emu, server


@pytest.fixture
async def setup(
    database_url: str, clock: Clock, emulator: tuple[AnthropicEmulator, BackgroundServer]
) -> AsyncIterator[Setup]:
    emu, server = emulator
    registry = ProviderRegistry(
        {"anthropic": AnthropicBatchProvider(api_key="test", base_url=server.url)}
    )
    settings = fast_settings(poll_interval_s=30.0, poll_max_interval_s=60.0, lease_s=7200.0)
    app = await AgentBatch.open(
        database_url, settings=settings, registry=registry, upgrade=True, clock=clock
    )
    try:
        yield Setup(clock, emu, app)
    finally:
        await app.close()


async def make_agents(app: AgentBatch, n: int) -> list[str]:
    ids = []
    for i in range(n):
        body = {
            "name": f"d{i}",
            "model": "anthropic/claude-sonnet-4-5",
            "blocks": [{"label": "human", "value": ""}],
            "tools": ["send_message", "core_memory_append"],
        }
        ids.append((await app.agents.create_agent(app.org_id, body))["id"])
    return ids


async def run(s: Setup, ids: list[str], **job: Any) -> tuple[dict[str, Any], float]:
    created = await s.app.jobs.create_job(
        s.app.org_id,
        {"agents": {"ids": ids}, "messages": "hello", "max_steps": 3, **job},
    )
    start = s.clock.now
    await s.worker().run_until(created["id"], timeout_s=120)
    done = await s.app.jobs.get_job(None, created["id"])
    ended = as_utc(datetime.fromisoformat(done["finished_at"]))
    assert ended is not None
    return done, (ended - start).total_seconds()


async def assert_each_step_once(app: AgentBatch, job_id: str, ids: list[str]) -> None:
    async with app.db.read() as conn:
        rows = (
            await conn.execute(
                select(messages.c.agent_id, messages.c.kind, messages.c.step)
                .where(messages.c.job_id == job_id)
                .order_by(messages.c.id)
            )
        ).all()
    for agent_id in ids:
        assert [r.kind for r in rows if r.agent_id == agent_id] == KINDS
    assert max(Counter((r.agent_id, r.step, r.kind) for r in rows).values()) == 1


async def test_a_deadline_sends_the_late_steps_live(setup: Setup) -> None:
    ids = await make_agents(setup.app, 3)
    # without a deadline: three batch rounds of 30 minutes, nothing live
    slow, slow_s = await run(setup, ids)
    assert slow["status"] == "completed"
    assert slow_s >= 3 * BATCH_S
    assert slow["routes"]["live"]["requests"] == 0 and setup.emu.live_calls == 0
    assert slow["routes"]["batch"]["requests"] == 9
    # the same job for new agents with a 45-minute deadline: the first step fits through
    # the batch (turnaround learned from the batches above), the two late ones go live
    ids = await make_agents(setup.app, 3)
    fast, fast_s = await run(setup, ids, deadline="45m")
    assert fast["status"] == "completed"
    deadline = datetime.fromisoformat(fast["deadline"])
    assert datetime.fromisoformat(fast["finished_at"]) <= deadline
    assert BATCH_S <= fast_s < 45 * 60
    assert fast["routes"]["live"]["requests"] == 6 == setup.emu.live_calls
    assert fast["routes"]["batch"]["requests"] == 3
    live, batch = fast["routes"]["live"], fast["routes"]["batch"]
    assert live["input_tokens"] > 0 and batch["input_tokens"] > 0
    # live steps are billed at the live price, batch ones at half of it
    assert live["usd"] > 0 and fast["cost"]["usd"] == pytest.approx(live["usd"] + batch["usd"])
    await assert_each_step_once(setup.app, fast["id"], ids)
    async with setup.app.db.read() as conn:
        kinds = (
            await conn.execute(
                select(provider_batches.c.kind, provider_batches.c.status).where(
                    provider_batches.c.job_id == fast["id"]
                )
            )
        ).all()
    assert sorted(kinds) == [("batch", "ingested"), ("live", "ingested"), ("live", "ingested")]


async def test_a_step_in_a_late_batch_is_sent_again_live(setup: Setup) -> None:
    ids = await make_agents(setup.app, 2)
    await run(setup, ids)  # learn: batches take about 30 minutes
    setup.emu.batch_seconds = 4 * 3600  # now they take four hours
    ids = await make_agents(setup.app, 2)
    job, took = await run(setup, ids, deadline="1h")
    assert job["status"] == "completed" and took < 3600
    # step 0 went out in a batch, waited, and was sent again live with the other steps
    assert job["routes"]["batch"]["requests"] == 2 and job["routes"]["live"]["requests"] == 6
    await assert_each_step_once(setup.app, job["id"], ids)
    # the late batch ends at last: its answers are recorded, never applied
    worker = setup.worker()
    for _ in range(100):
        async with setup.app.db.read() as conn:
            open_batches = (
                await conn.execute(
                    select(provider_batches.c.id).where(
                        provider_batches.c.job_id == job["id"],
                        provider_batches.c.status == "in_progress",
                    )
                )
            ).all()
        if not open_batches:
            break
        await worker.tick()
        setup.clock.advance(600)
    else:
        raise AssertionError("the late batch never ended")
    assert setup.clock.now - timedelta(hours=4) >= datetime.fromisoformat(job["created_at"])
    await assert_each_step_once(setup.app, job["id"], ids)
    async with setup.app.db.read() as conn:
        late = (
            await conn.execute(
                select(batch_items.c.outcome, batch_items.c.applied)
                .join(provider_batches, provider_batches.c.id == batch_items.c.provider_batch_id)
                .where(provider_batches.c.job_id == job["id"], provider_batches.c.kind == "batch")
            )
        ).all()
    assert [(r.outcome, r.applied) for r in late] == [("succeeded", True)] * 2
    assert (await setup.app.jobs.get_job(None, job["id"]))["usage"]["model_calls"] == 6
