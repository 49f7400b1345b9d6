"""Fenced transitions under races, driven deterministically with hooks and a controllable
clock (SQLite and PostgreSQL): cancel at each point of a submission and during ingest, a
worker paused past its lease while another takes over, a provider create slower than the
lease, a crash between the provider create and its record. Every test checks that the job
ends, no run is left unfinished, no message or memory edit is duplicated or written after
a cancel, and no provider batch is left running."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import select

from agentbatch.app import AgentBatch
from agentbatch.runtime.poll import poll_pass
from agentbatch.runtime.recover import recover_pass
from agentbatch.runtime.submit import submit_pass
from agentbatch.store.tables import provider_batches, runs
from agentbatch.testing.recording import RecordingProvider
from tests.conftest import fast_settings
from tests.integration.fencing_support import (
    EXPECTED,
    Clock,
    Held,
    agents,
    assert_consistent,
    assert_nothing_running,
    batch_rows,
    job_messages,
    start,
)


async def _ticks_until(worker: Any, done: Any, limit: int = 200) -> None:
    for _ in range(limit):
        if await done():
            return
        await worker.tick()
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_cancel_between_claim_and_record(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await agents(app)
    job_id = await start(app, ids)
    worker = app.worker()

    async def cancel(**_: Any) -> None:
        await app.jobs.cancel_job(app.org_id, job_id)

    worker.ctx.hooks.on("claimed", cancel)
    for _ in range(4):
        await worker.tick()
    job = await assert_consistent(app, job_id, ids)
    assert job["status"] == "cancelled" and job["runs"]["cancelled"] == len(ids)
    assert await job_messages(app, job_id) == []  # not even the input: never recorded
    assert recorder.submits == [] and await batch_rows(app, job_id) == []
    # the agents are free: a new job runs them, exactly once
    again = await start(app, ids)
    assert await app.worker().run_until(again, timeout_s=60) == "completed"
    job2 = await assert_consistent(app, again, ids)
    assert job2["runs"]["completed"] == len(ids)
    assert [m.kind for m in await job_messages(app, again)].count("input") == len(ids)


async def test_cancel_between_record_and_provider_call(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await agents(app)
    job_id = await start(app, ids, polls=3)  # the batch would stay in progress for a while
    worker = app.worker()

    async def cancel(**_: Any) -> None:
        await app.jobs.cancel_job(app.org_id, job_id)

    worker.ctx.hooks.on("recorded", cancel)
    await worker.tick()  # records, cancel commits, the create still goes out
    assert len(recorder.submits) == 1

    async def cleaned() -> bool:
        return [b.cleanup for b in await batch_rows(app, job_id)] == ["done"]

    await _ticks_until(worker, cleaned)
    job = await assert_consistent(app, job_id, ids)
    assert job["status"] == "cancelled" and job["runs"]["cancelled"] == len(ids)
    assert [m.kind for m in await job_messages(app, job_id)] == ["input"] * len(ids)
    [batch] = await batch_rows(app, job_id)
    assert batch.status == "canceled" and batch.external_id == recorder.submits[0][0]
    assert_nothing_running(recorder)  # cancelled at the provider, not left to run


async def test_cancel_during_ingest(app: AgentBatch, recorder: RecordingProvider) -> None:
    ids = await agents(app)
    job_id = await start(app, ids)
    worker = app.worker(settings=fast_settings(chunk_size=2))
    seen: list[int] = []

    async def cancel_once(**_: Any) -> None:
        if not seen:
            seen.append(len(await job_messages(app, job_id)))
            await app.jobs.cancel_job(app.org_id, job_id)

    worker.ctx.hooks.on("ingested_chunk", cancel_once)
    for _ in range(6):
        await worker.tick()
    job = await assert_consistent(app, job_id, ids)
    assert job["status"] == "cancelled"
    rows = await job_messages(app, job_id)
    assert len(rows) == seen[0]  # nothing written after the cancel
    applied = {r.agent_id for r in rows if r.kind == "assistant"}
    assert len(applied) == 2  # the chunk committed before the cancel, no more
    [batch] = await batch_rows(app, job_id)
    assert batch.status == "canceled"  # never flipped to ingested


async def test_worker_paused_past_its_lease_after_claiming(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await agents(app)
    job_id = await start(app, ids)
    clock = Clock()
    stalled = app.worker(clock=clock, owner="stalled")
    paused, resume = asyncio.Event(), asyncio.Event()

    async def pause(**_: Any) -> None:
        paused.set()
        await resume.wait()

    stalled.ctx.hooks.on("claimed", pause)
    frozen = asyncio.create_task(submit_pass(stalled.ctx))
    await paused.wait()
    clock.advance(3600)  # its lease expires while it is frozen
    other = app.worker(clock=clock, owner="other")
    assert await other.run_until(job_id, timeout_s=60) == "completed"
    resume.set()
    await frozen  # the stale claim records nothing and sends nothing
    job = await assert_consistent(app, job_id, ids)
    assert job["runs"]["completed"] == len(ids)
    assert [m.kind for m in await job_messages(app, job_id)].count("input") == len(ids)
    for agent_id in ids:
        kinds = [m.kind for m in await job_messages(app, job_id) if m.agent_id == agent_id]
        assert kinds == EXPECTED
    assert len(recorder.submits) == 2  # one batch per step, both the other worker's
    assert all(b.status == "ingested" for b in await batch_rows(app, job_id))


async def test_stale_poll_holder_stops_when_taken_over(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await agents(app)
    job_id = await start(app, ids)
    clock = Clock()
    stalled = app.worker(clock=clock, owner="stalled", settings=fast_settings(chunk_size=2))
    await submit_pass(stalled.ctx)
    paused, resume = asyncio.Event(), asyncio.Event()

    async def pause(**_: Any) -> None:
        if not paused.is_set():
            paused.set()
            await resume.wait()

    stalled.ctx.hooks.on("ingested_chunk", pause)
    frozen = asyncio.create_task(poll_pass(stalled.ctx))
    await paused.wait()  # one chunk applied, then frozen
    clock.advance(3600)
    other = app.worker(clock=clock, owner="other")
    assert await other.run_until(job_id, timeout_s=60) == "completed"
    resume.set()
    await frozen
    job = await assert_consistent(app, job_id, ids)
    assert job["runs"]["completed"] == len(ids)
    for agent_id in ids:
        kinds = [m.kind for m in await job_messages(app, job_id) if m.agent_id == agent_id]
        assert kinds == EXPECTED


async def test_provider_create_slower_than_the_lease(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await agents(app)
    job_id = await start(app, ids)
    held = Held(recorder)
    app.registry.register("scripted", held)  # type: ignore[arg-type]
    held.hold_submit = True
    clock = Clock()

    async def fast(_: float) -> None:
        await asyncio.sleep(0.005)

    slow = app.worker(clock=clock, owner="slow", lease_sleep=fast)
    sending = asyncio.create_task(submit_pass(slow.ctx))
    await held.submit_started.wait()
    other = app.worker(clock=clock, owner="other")
    for _ in range(3):  # many lease periods pass while the create is in flight
        clock.advance(slow.ctx.settings.lease_s + 1)
        for _ in range(500):  # wait (on state) until the slow worker renewed its lease
            async with app.db.read() as conn:
                expiry = (await conn.execute(select(provider_batches.c.lease_expires))).scalar()
            if expiry is not None and expiry.replace(tzinfo=None) > clock.now.replace(tzinfo=None):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the lease was not renewed")
        assert await recover_pass(other.ctx) == 0  # alive: not declared interrupted
    held.hold_submit = False
    held.release.set()
    await sending
    assert await other.run_until(job_id, timeout_s=60) == "completed"
    job = await assert_consistent(app, job_id, ids)
    assert job["runs"]["completed"] == len(ids)
    assert {b.status for b in await batch_rows(app, job_id)} == {"ingested"}
    assert all(r.attempt == 1 for r in recorder.requests[ids[0]])  # no attempt lost


async def test_crash_between_provider_create_and_record(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await agents(app)
    job_id = await start(app, ids, polls=2)
    clock = Clock()
    dead = app.worker(clock=clock, owner="dead")

    class Crash(BaseException):
        pass

    async def crash(**_: Any) -> None:
        raise Crash

    dead.ctx.hooks.on("created", crash)
    with contextlib.suppress(Crash):
        await submit_pass(dead.ctx)
    [(orphan, _)] = recorder.submits  # the provider has it; we never recorded its handle
    assert recorder.inner.is_open(orphan)  # type: ignore[attr-defined]
    clock.advance(3600)
    alive = app.worker(clock=clock, owner="alive")
    assert await alive.run_until(job_id, timeout_s=60) == "completed"

    async def cleaned() -> bool:
        return all(b.cleanup == "done" for b in await batch_rows(app, job_id))

    await _ticks_until(alive, cleaned)
    job = await assert_consistent(app, job_id, ids)
    assert job["runs"]["completed"] == len(ids)
    first = (await batch_rows(app, job_id))[0]
    assert first.status == "failed" and first.external_id == orphan  # found by its tag
    assert_nothing_running(recorder)  # the orphan was cancelled at the provider
    for agent_id in ids:
        kinds = [m.kind for m in await job_messages(app, job_id) if m.agent_id == agent_id]
        assert kinds == EXPECTED
    async with app.db.read() as conn:
        attempts = (await conn.execute(select(runs.c.attempt))).scalars().all()
    assert set(attempts) == {1}  # reset after the step that followed the interruption


async def test_results_read_again_while_steps_wait_for_tools(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    """A batch read twice (a worker died mid-ingest, a broken results stream) while its
    steps wait for tools outside the apply pass: the second read leaves them waiting, and
    the tool pass resolves each exactly once."""
    from agentbatch.runtime.apply import apply_results
    from agentbatch.runtime.poll import poll_pass

    ids = await agents(app, 4)
    search = [
        {"tool": "conversation_search", "args": {"query": "hi"}, "heartbeat": True},
        {"tool": "send_message", "args": {"message": "done"}, "heartbeat": False},
    ]
    for agent_id in ids:
        await app.agent_edits.update_agent(
            app.org_id, agent_id, {"tools": ["send_message", "conversation_search"]}
        )
    job_id = await start(app, ids, script=search)
    worker = app.worker()
    await submit_pass(worker.ctx)
    [(handle, _)] = recorder.submits
    replay = [item async for item in recorder.inner.results(handle)]
    await poll_pass(worker.ctx)  # ingest: every step waits for its tool
    async with app.db.read() as conn:
        states = (await conn.execute(select(runs.c.status))).scalars().all()
    assert set(states) == {"waiting_tools"}
    stats = await apply_results(worker.ctx, replay)  # the same results, read again
    assert stats.applied == stats.ignored == 0
    assert await worker.run_until(job_id, timeout_s=60) == "completed"
    for agent_id in ids:
        kinds = [m.kind for m in await job_messages(app, job_id) if m.agent_id == agent_id]
        assert kinds == ["input", "assistant", "tool", "heartbeat", "assistant", "tool"]
