"""A worker may die at any point: nothing is lost, nothing applied twice (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agentbatch.app import AgentBatch
from agentbatch.domain.model_io import ItemResult
from agentbatch.errors import ProviderError
from agentbatch.runtime.apply import apply_results
from agentbatch.runtime.poll import ingest
from agentbatch.runtime.submit import submit_pass
from agentbatch.testing.recording import RecordingProvider
from tests.helpers import history, kinds, make_agents
from tests.integration.fencing_support import EXPECTED, STEPS, Clock


class Flaky:
    """Our own provider wrapper: fails submits / result reads a given number of times."""

    def __init__(
        self,
        inner: RecordingProvider,
        submit_failures: int = 0,
        result_failures: int = 0,
        retryable: bool = False,
    ) -> None:
        self.inner, self.name, self.limits = inner, inner.name, inner.limits
        self.poll_interval_s = 0.0
        self.submit_failures, self.result_failures, self.retryable = (
            submit_failures,
            result_failures,
            retryable,
        )

    def encode(self, custom_id: str, request: Any) -> dict[str, Any]:
        return self.inner.encode(custom_id, request)

    async def submit(self, model: str, entries: Sequence[dict[str, Any]], tag: Any = None) -> str:
        if self.submit_failures:
            self.submit_failures -= 1
            raise ProviderError("injected submit failure", retryable=self.retryable)
        return await self.inner.submit(model, entries, tag)

    async def poll(self, handle: str) -> Any:
        return await self.inner.poll(handle)

    async def results(self, handle: str) -> AsyncIterator[ItemResult]:
        if self.result_failures:
            self.result_failures -= 1
            raise ProviderError("injected results failure", retryable=False)
        async for item in self.inner.results(handle):
            yield item

    async def cancel(self, handle: str) -> None:
        await self.inner.cancel(handle)

    async def cleanup(self, handle: str) -> None:
        await self.inner.cleanup(handle)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _agents(app: AgentBatch, n: int = 6) -> list[str]:
    return await make_agents(
        app,
        n,
        blocks=[{"label": "human", "value": ""}],
        tools=["send_message", "core_memory_append"],
    )


async def _job(app: AgentBatch, ids: list[str], **options: Any) -> str:
    job = await app.jobs.create_job(
        app.org_id,
        {
            "requests": [{"agent_id": a, "messages": "hi"} for a in ids],
            "max_steps": 3,
            "options": {"script": STEPS, **options},
        },
    )
    return str(job["id"])


async def _assert_exactly_once(app: AgentBatch, job_id: str, ids: list[str]) -> None:
    job = await app.jobs.get_job(app.org_id, job_id)
    assert job["status"] == "completed", job
    for agent_id in ids:
        assert kinds(await history(app, job_id, agent_id)) == EXPECTED
        agent = await app.agents.get_agent(app.org_id, agent_id)
        assert agent["blocks"][0]["value"] == "n0"


async def test_results_delivered_twice_are_applied_once(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await _agents(app)
    job_id = await _job(app, ids)
    worker = app.worker()
    await submit_pass(worker.ctx)
    [(handle, _)] = recorder.submits
    replay = [item async for item in recorder.inner.results(handle)]
    await worker.tick()  # poll + ingest step 0
    stats = await apply_results(worker.ctx, replay)  # e.g. a second worker re-reading the batch
    assert stats.applied == 0 and stats.ignored == 0
    await worker.run_until(job_id, timeout_s=30)
    stats = await apply_results(worker.ctx, replay)
    assert stats.applied == 0
    await _assert_exactly_once(app, job_id, ids)


async def test_crash_between_record_and_provider_call_is_recovered(app: AgentBatch) -> None:
    ids = await _agents(app)
    job_id = await _job(app, ids)
    clock = Clock()
    flaky = Flaky(app.registry.get("scripted"), submit_failures=0)  # type: ignore[arg-type]
    app.registry.register("scripted", flaky)  # type: ignore[arg-type]

    class Crash(BaseException):
        pass

    async def crash(model: str, entries: Sequence[dict[str, Any]], tag: Any = None) -> str:
        raise Crash

    dead = app.worker(clock=clock, owner="dead-worker")
    flaky.submit = crash  # type: ignore[method-assign]
    with contextlib.suppress(Crash):
        await submit_pass(dead.ctx)
    del flaky.submit  # the live worker's provider works
    alive = app.worker(clock=clock, owner="live-worker")
    await alive.tick()
    assert (await app.jobs.get_job(app.org_id, job_id))["runs"]["waiting_model"] == len(ids)
    clock.advance(3600)  # the dead worker's lease expires
    await alive.run_until(job_id, timeout_s=30)
    await _assert_exactly_once(app, job_id, ids)
    runs = await app.jobs.job_runs(None, job_id)
    assert all(r["attempt"] == 1 for r in runs)  # attempt counter reset after the successful step


async def test_crash_mid_ingest_is_finished_by_another_worker(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await _agents(app, 8)
    job_id = await _job(app, ids)
    clock = Clock()
    dead = app.worker(clock=clock, owner="dead-worker")
    dead.ctx.settings = type(dead.ctx.settings)(**{**vars(dead.ctx.settings), "chunk_size": 3})
    await submit_pass(dead.ctx)
    [(handle, _)] = recorder.submits
    # the dead worker applied only the first 3 results before dying
    first = [item async for item in recorder.inner.results(handle)][:3]
    await apply_results(dead.ctx, first)
    clock.advance(10)
    alive = app.worker(clock=clock, owner="live-worker")
    await alive.run_until(job_id, timeout_s=30)
    await _assert_exactly_once(app, job_id, ids)


async def test_failed_result_fetch_is_read_again(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await _agents(app)
    job_id = await _job(app, ids)
    flaky = Flaky(recorder, result_failures=2)
    app.registry.register("scripted", flaky)  # type: ignore[arg-type]
    await app.worker().run_until(job_id, timeout_s=30)
    await _assert_exactly_once(app, job_id, ids)
    assert flaky.result_failures == 0


async def test_batch_that_cannot_be_created_costs_an_attempt_then_succeeds(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await _agents(app)
    job_id = await _job(app, ids)
    # transient failures that outlive the provider-call retries (5, then a 6th)
    flaky = Flaky(recorder, submit_failures=6, retryable=True)
    app.registry.register("scripted", flaky)  # type: ignore[arg-type]
    await app.worker().run_until(job_id, timeout_s=30)
    await _assert_exactly_once(app, job_id, ids)
    assert [r.attempt for r in recorder.requests[ids[0]]] == [1, 2, 1]


async def test_batch_refused_as_invalid_fails_its_runs_at_once(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await _agents(app)
    job_id = await _job(app, ids)
    flaky = Flaky(recorder, submit_failures=1, retryable=False)  # e.g. an HTTP 400
    app.registry.register("scripted", flaky)  # type: ignore[arg-type]
    assert await app.worker().run_until(job_id, timeout_s=30) == "failed"
    for run in await app.jobs.job_runs(None, job_id):
        assert (run["status"], run["attempt"]) == ("failed", 1)
        assert "injected submit failure" in run["last_error"]
    job = await app.jobs.get_job(None, job_id)
    assert "invalid_request" in job["error"]


async def test_ingest_of_partial_results_settles_missing_items(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await _agents(app, 4)
    job_id = await _job(app, ids)
    worker = app.worker()
    await submit_pass(worker.ctx)
    [(handle, _)] = recorder.submits
    all_items = [item async for item in recorder.inner.results(handle)]

    class Partial:
        name, limits = recorder.name, recorder.limits

        async def results(self, h: str) -> AsyncIterator[ItemResult]:
            for item in all_items[:2]:
                yield item

        async def cleanup(self, h: str) -> None:
            return None

    from agentbatch.store import provider_batches

    ctx = worker.ctx
    [batch] = await app.db.transact(
        lambda conn: provider_batches.claim_due(
            conn,
            owner=ctx.owner,
            now=ctx.clock(),
            until=ctx.lease_until(),
            limit=10,
            skip_locked=ctx.skip_locked,
        )
    )
    stats = await ingest(ctx, batch, Partial())  # type: ignore[arg-type]
    assert stats.applied == 4 and stats.retried == 2
    await worker.run_until(job_id, timeout_s=30)
    await _assert_exactly_once(app, job_id, ids)


async def test_stale_plan_is_recomputed_not_written(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    """A chunk planned from a snapshot must not overwrite a shared block that another
    chunk wrote in between: the commit sees the version moved and recomputes."""
    from agentbatch.runtime.apply import commit_chunk, make_plan, read_chunk

    team = await app.agents.create_block(app.org_id, {"label": "team", "value": "log:"})
    ids = await make_agents(
        app, 4, block_ids=[team["id"]], tools=["send_message", "core_memory_append"]
    )
    script = [
        {
            "tool": "core_memory_append",
            "args": {"label": "team", "content": "{agent_id}"},
            "heartbeat": False,
        }
    ]
    job = await app.jobs.create_job(
        app.org_id,
        {
            "requests": [{"agent_id": a, "messages": "hi"} for a in ids],
            "max_steps": 1,
            "options": {"script": script},
        },
    )
    worker = app.worker()
    await submit_pass(worker.ctx)
    [(handle, _)] = recorder.submits
    results = [item async for item in recorder.inner.results(handle)]
    first, second = results[:2], results[2:]
    stale = make_plan(worker.ctx, await read_chunk(worker.ctx, first))  # the block: "log:"
    await apply_results(worker.ctx, second)  # another chunk writes the shared block
    stats = await commit_chunk(worker.ctx, stale)
    assert stats.applied == 2
    await worker.run_until(job["id"], timeout_s=30)
    value = (await app.agents.get_block(app.org_id, team["id"]))["value"]
    assert sorted(value.split("\n")[1:]) == sorted(ids)  # all four writes, none lost
    assert (await app.agents.get_block(app.org_id, team["id"]))["version"] == 5
