"""Schedules on SQLite and PostgreSQL with an injected clock: two workers that both see
every due fire create exactly one job per fire over a simulated week; missed fires follow
the schedule's policy; agents still busy are skipped, counted and shown."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from agentbatch.app import AgentBatch
from agentbatch.domain.cron import next_times
from agentbatch.runtime.schedules import schedule_pass
from agentbatch.runtime.worker import Worker
from agentbatch.store.tables import batch_jobs, schedule_fires
from tests.integration.fencing_support import Clock

START = datetime(2026, 3, 2, 0, 0, 30, tzinfo=UTC)  # a Monday


def clock_at(when: datetime) -> Clock:
    clock = Clock()
    clock.now = when
    return clock


async def tagged_agents(app: AgentBatch, n: int, tag: str = "sleeptime") -> list[str]:
    ids = []
    for i in range(n):
        body = {"name": f"sleeper-{i}", "model": "scripted/test", "tags": [tag]}
        ids.append((await app.agents.create_agent(app.org_id, body))["id"])
    return ids


class Rendezvous:
    """A hook that holds each worker at ``schedule_due`` until both have read the due
    schedule: both then race to claim the same fire."""

    def __init__(self, parties: int = 2) -> None:
        self.parties, self.arrived, self.ready = parties, 0, asyncio.Event()

    def reset(self) -> None:
        self.arrived, self.ready = 0, asyncio.Event()

    async def __call__(self, **_: Any) -> None:
        self.arrived += 1
        if self.arrived >= self.parties:
            self.ready.set()
        await asyncio.wait_for(self.ready.wait(), timeout=30)


async def drain(worker: Worker, job_ids: set[str], app: AgentBatch) -> None:
    """Tick until every job in ``job_ids`` has ended."""
    for _ in range(200):
        jobs = [await app.jobs.get_job(None, j) for j in job_ids]
        if all(j["status"] in ("completed", "failed", "cancelled") for j in jobs):
            return
        await worker.tick()
    raise AssertionError(f"jobs did not end: {[j['status'] for j in jobs]}")


async def test_two_workers_fire_each_time_once_over_a_week(app: AgentBatch) -> None:
    clock = clock_at(START)
    await tagged_agents(app, 2)
    schedule = await app.schedules.create_schedule(
        app.org_id,
        {"cron": "0 */3 * * *", "agents": {"tags": ["sleeptime"]}, "messages": "consolidate"},
    )
    # created with the real clock: move its first fire to the simulated week
    await app.schedules.pause_schedule(app.org_id, schedule["id"])
    app.schedules.clock = clock
    await app.schedules.resume_schedule(app.org_id, schedule["id"])
    meet = Rendezvous()
    workers = [app.worker(clock=clock, owner=f"w{i}") for i in range(2)]
    for w in workers:
        w.ctx.hooks.on("schedule_due", meet)
    made = [0, 0]
    end = START + timedelta(days=7)
    while clock.now < end:
        clock.advance(45 * 60)
        meet.reset()
        counts = await asyncio.gather(*(schedule_pass(w.ctx) for w in workers))
        made = [m + c for m, c in zip(made, counts, strict=True)]
        assert sum(counts) <= 1
        async with app.db.read() as conn:
            open_jobs = {
                r.id
                for r in await conn.execute(
                    select(batch_jobs.c.id).where(batch_jobs.c.status.in_(["created", "running"]))
                )
            }
        await drain(workers[0], open_jobs, app)
    expected = [t for t in next_times("0 */3 * * *", "UTC", START, 80) if t <= clock.now]
    assert len(expected) == 56
    async with app.db.read() as conn:
        fires = (
            await conn.execute(
                select(schedule_fires.c.fire_at, schedule_fires.c.job_id).order_by(
                    schedule_fires.c.fire_at
                )
            )
        ).all()
        jobs = (
            await conn.execute(
                select(func.count()).where(batch_jobs.c.schedule_id == schedule["id"])
            )
        ).scalar_one()
    assert [f.fire_at.replace(tzinfo=UTC) for f in fires] == expected
    assert all(f.job_id for f in fires)
    assert jobs == 56 == sum(made)
    shown = await app.schedules.get_schedule(app.org_id, schedule["id"])
    assert shown["fires"] == 56 and shown["missed_total"] == 0
    assert len(shown["last_fires"]) == 10
    assert {f["job_status"] for f in shown["last_fires"]} == {"completed"}
    upcoming = [datetime.fromisoformat(t) for t in shown["next_fire_times"]]
    assert upcoming[0] == expected[-1] + timedelta(hours=3) and upcoming[0] > clock.now


async def _schedule_at(app: AgentBatch, clock: Clock, **spec: Any) -> dict[str, Any]:
    app.schedules.clock = clock
    body = {"agents": {"tags": ["sleeptime"]}, "messages": "consolidate", **spec}
    return await app.schedules.create_schedule(app.org_id, body)


async def test_missed_fires_follow_the_policy(app: AgentBatch) -> None:
    clock = clock_at(START)
    await tagged_agents(app, 2, "a")
    await tagged_agents(app, 2, "b")
    skip = await _schedule_at(app, clock, cron="0 * * * *", missed="skip", agents={"tags": ["a"]})
    once = await _schedule_at(
        app, clock, cron="0 * * * *", missed="run_once", agents={"tags": ["b"]}
    )
    worker = app.worker(clock=clock)
    clock.advance(5 * 3600)  # every worker down from 00:00 to 05:00:30 (fires 01:00..05:00)
    assert await schedule_pass(worker.ctx) == 2
    skipped = await app.schedules.get_schedule(app.org_id, skip["id"])
    ran = await app.schedules.get_schedule(app.org_id, once["id"])
    # 05:00 is 30 s late, within the grace: on time under either policy
    assert [(f["missed"], bool(f["job_id"])) for f in skipped["last_fires"]] == [(4, True)]
    assert [(f["missed"], bool(f["job_id"])) for f in ran["last_fires"]] == [(4, True)]
    await worker.run_until(ran["last_fires"][0]["job_id"])
    await worker.run_until(skipped["last_fires"][0]["job_id"])
    clock.advance(3 * 3600 + 600)  # down again: 06:00..08:00 all missed, now 08:10:30
    assert await schedule_pass(worker.ctx) == 2
    skipped = await app.schedules.get_schedule(app.org_id, skip["id"])
    ran = await app.schedules.get_schedule(app.org_id, once["id"])
    newest_skip, newest_once = skipped["last_fires"][0], ran["last_fires"][0]
    assert newest_skip["job_id"] is None and newest_skip["missed"] == 3
    assert newest_once["job_id"] is not None and newest_once["missed"] == 2
    assert newest_once["fire_at"].startswith("2026-03-02T08:00")
    for shown in (skipped, ran):
        assert shown["next_fire_at"].startswith("2026-03-02T09:00")
    assert skipped["missed_total"] == 7 and ran["missed_total"] == 6
    assert await schedule_pass(worker.ctx) == 0  # nothing due until 09:00


async def test_busy_agents_are_skipped_counted_and_shown(app: AgentBatch) -> None:
    clock = clock_at(START)
    ids = await tagged_agents(app, 3)
    # one agent is still in an unfinished job
    await app.jobs.create_job(
        app.org_id, {"requests": [{"agent_id": ids[0], "messages": "still busy"}]}
    )
    schedule = await _schedule_at(
        app, clock, cron="0 2 * * *", messages="Good night, {{agent.name}}."
    )
    worker = app.worker(clock=clock)
    clock.advance(2 * 3600)
    assert await schedule_pass(worker.ctx) == 1
    shown = await app.schedules.get_schedule(app.org_id, schedule["id"])
    fire = shown["last_fires"][0]
    assert (fire["selected"], fire["skipped_busy"]) == (3, 1)
    job = await app.jobs.get_job(app.org_id, fire["job_id"])
    assert job["request_count"] == 2 and job["skipped_agents"] == 1
    runs = await app.jobs.job_runs(app.org_id, fire["job_id"])
    assert sorted(r["agent_id"] for r in runs) == sorted(ids[1:])
    messages = await app.jobs.job_messages(app.org_id, fire["job_id"]) or []
    assert messages == []  # nothing sent yet; the text is rendered per agent:
    async with app.db.read() as conn:
        from agentbatch.store.tables import runs as runs_table

        pending = (
            await conn.execute(
                select(runs_table.c.pending_messages).where(runs_table.c.job_id == fire["job_id"])
            )
        ).all()
    assert sorted(p.pending_messages[0]["content"] for p in pending) == [
        "Good night, sleeper-1.",
        "Good night, sleeper-2.",
    ]
    # the next night every agent is still busy: no job, all counted
    clock.advance(24 * 3600)
    assert await schedule_pass(worker.ctx) == 1
    shown = await app.schedules.get_schedule(app.org_id, schedule["id"])
    fire = shown["last_fires"][0]
    assert fire["job_id"] is None and (fire["selected"], fire["skipped_busy"]) == (3, 3)
    assert shown["skipped_busy_total"] == 4
