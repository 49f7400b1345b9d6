"""Creates whose answer was lost, and orphan lookups that must not cancel a healthy
batch: a retried create leaves no duplicate running at the provider; a provider without
batch metadata (matched by size and time) never has another worker's in-flight create
cancelled as an orphan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from agentbatch.app import AgentBatch
from agentbatch.errors import ProviderError
from agentbatch.ids import utcnow
from agentbatch.runtime.cleanup import cleanup_pass
from agentbatch.runtime.recover import recover_pass
from agentbatch.runtime.submit import submit_pass
from agentbatch.store.tables import provider_batches
from agentbatch.testing.recording import RecordingProvider
from tests.integration.fencing_support import (
    EXPECTED,
    Clock,
    Held,
    agents,
    batch_rows,
    job_messages,
    start,
)


class LostAnswers(Held):
    """The provider creates the batch, then the answer is lost ``losses`` times."""

    def __init__(self, inner: Any, losses: int) -> None:
        super().__init__(inner)
        self.losses = losses

    async def submit(self, model: str, entries: Sequence[dict[str, Any]], tag: Any = None) -> str:
        handle = await super().submit(model, entries, tag)
        if self.losses:
            self.losses -= 1
            raise ProviderError("502 Bad Gateway (the answer was lost)", retryable=True)
        return handle


class BySize(Held):
    """A provider without batch metadata: orphans are matched by request count alone."""

    orphans_exact = False

    async def find_orphans(self, tag: Any) -> list[str]:
        return [h for h, n in self.inner.submits if n == tag.requests]


async def test_a_retried_create_leaves_no_duplicate_running(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await agents(app, 3)
    lost = LostAnswers(recorder, losses=2)
    app.registry.register("scripted", lost)  # type: ignore[arg-type]
    job_id = await start(app, ids, polls=2)
    assert await app.worker().run_until(job_id, timeout_s=60) == "completed"
    first, second, *_ = recorder.submits  # the two created batches whose answers were lost
    inner: Any = recorder.inner
    assert not inner.is_open(first[0]) and not inner.is_open(second[0])
    for agent_id in ids:
        kinds = [m.kind for m in await job_messages(app, job_id) if m.agent_id == agent_id]
        assert kinds == EXPECTED


async def test_a_failed_create_whose_tries_created_batches_cancels_them(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await agents(app, 3)
    lost = LostAnswers(recorder, losses=6)  # every try of the first send (1 + 5 retries)
    app.registry.register("scripted", lost)  # type: ignore[arg-type]
    job_id = await start(app, ids, polls=2)
    worker = app.worker()
    assert await worker.run_until(job_id, timeout_s=60) == "completed"
    for _ in range(50):
        if all(b.cleanup == "done" for b in await batch_rows(app, job_id)):
            break
        await worker.tick()
    inner: Any = recorder.inner
    assert [h for h, _ in recorder.submits[:6] if inner.is_open(h)] == []


async def test_orphan_lookup_waits_while_a_same_size_create_is_in_flight(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    by_size = BySize(recorder)
    app.registry.register("scripted", by_size)  # type: ignore[arg-type]
    inner: Any = recorder.inner

    # worker A dies right after its create of X (job 1): X is an orphan at the provider
    await start(app, await agents(app, 3), polls=50)
    clock = Clock()
    dead = app.worker(clock=clock, owner="dead")

    class Crash(BaseException):
        pass

    async def crash(**_: Any) -> None:
        raise Crash

    dead.ctx.hooks.on("created", crash)
    with contextlib.suppress(Crash):
        await submit_pass(dead.ctx)
    [(orphan, _)] = recorder.submits

    # worker B creates Y for job 2 (same size); its answer is slow, B is alive
    job2 = await start(app, await agents(app, 3), polls=2)
    clock.now = utcnow()  # job 2's runs are due
    by_size.hold_submit = True

    async def fast(_: float) -> None:
        await asyncio.sleep(0.005)

    alive = app.worker(clock=clock, owner="alive", lease_sleep=fast)
    sending = asyncio.create_task(submit_pass(alive.ctx))
    await by_size.submit_started.wait()
    healthy = recorder.submits[1][0]

    clock.advance(3600)  # A's lease expires; B keeps renewing its own
    for _ in range(500):
        async with app.db.read() as conn:
            expiry = (
                await conn.execute(
                    select(provider_batches.c.lease_expires).where(
                        provider_batches.c.job_id == job2
                    )
                )
            ).scalar()
        if expiry is not None and expiry.replace(tzinfo=None) > clock.now.replace(tzinfo=None):
            break
        await asyncio.sleep(0.01)
    other = app.worker(clock=clock, owner="other")
    assert await recover_pass(other.ctx) >= 1  # X's row is abandoned; lookup pending
    await cleanup_pass(other.ctx)
    assert inner.is_open(healthy)  # not cancelled: it could be B's, in flight
    assert inner.is_open(orphan)  # not yet either: X and Y cannot be told apart now

    by_size.hold_submit = False
    by_size.release.set()
    await sending  # B records Y
    clock.advance(3600)
    for _ in range(20):
        await cleanup_pass(other.ctx)
        if not inner.is_open(orphan):
            break
        clock.advance(60)
    assert not inner.is_open(orphan)  # X, now the only unknown one, is cancelled
    assert await other.run_until(job2, timeout_s=60) == "completed"
    first2 = (await batch_rows(app, job2))[0]  # its first step's batch: Y, applied
    assert first2.external_id == healthy and first2.status == "ingested"
