"""Every fault the emulators inject, through the runtime and the official SDKs: 429 with
retry-after, 500 on create (retried; past the retries the batch fails and its items are
retried), slow responses and client timeouts, forced errored / expired / canceled items, a
batch that stays in progress, cancel while in flight, and an ``openai-compatible`` handle
that a restarted worker no longer knows. Each test checks the final job, runs, items and
every agent's history, not only that the job ended."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agentbatch.app import AgentBatch
from agentbatch.providers.anthropic import AnthropicBatchProvider
from agentbatch.providers.openai_compatible import OpenAICompatibleProvider
from agentbatch.testing.faults import ContentFault, FaultPlan, HttpFault
from tests.conftest import fast_settings
from tests.helpers import history, kinds
from tests.integration.conftest import open_app
from tests.integration.test_provider_jobs import (
    GPT,
    HISTORY,
    SCRIPT,
    SONNET,
    Emulators,
    assert_agent_history,
    create_agents,
    item_rows,
    provider_batch_rows,
)

COMPATIBLE = "openai-compatible/qwen"
IDLE = 0.01  # fast_settings' idle sleep: every other sleep the worker takes is a retry


class Sleeps:
    """The runtime's sleep, recorded; ``then`` runs once after the first retry sleep."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.then: Any = None

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if seconds != IDLE and self.then is not None:
            self.then, then = None, self.then
            then()
        await asyncio.sleep(seconds)

    @property
    def retries(self) -> list[float]:
        return [s for s in self.calls if s != IDLE]


def faults_of(emus: Emulators, model: str) -> FaultPlan:
    return emus.anthropic.faults if model.startswith("anthropic/") else emus.openai.faults


async def start_job(app: AgentBatch, agent_ids: list[str], **job: Any) -> str:
    created = await app.jobs.create_job(
        app.org_id,
        {
            "requests": [{"agent_id": a, "messages": f"fact-{i}"} for i, a in enumerate(agent_ids)],
            "max_steps": 4,
            **job,
        },
    )
    return str(created["id"])


async def drive(app: AgentBatch, job_id: str, sleeps: Sleeps | None = None) -> dict[str, Any]:
    worker = app.worker(sleep=sleeps) if sleeps is not None else app.worker()
    await worker.run_until(job_id, timeout_s=30)
    return await app.jobs.get_job(None, job_id)


async def assert_all_completed(
    app: AgentBatch, job: dict[str, Any], ids: list[str], provider: str, reply: bool = True
) -> None:
    assert job["status"] == "completed" and job["runs"]["completed"] == len(ids)
    assert job["usage"]["model_calls"] == 2 * len(ids)
    for i, agent_id in enumerate(ids):
        await assert_agent_history(
            app, job["id"], agent_id, f"fact-{i}", provider, agent_reply=reply
        )


def items_by_step(rows: list[Any], run_id: str) -> list[tuple[int, int, str | None]]:
    return sorted((r.step, r.attempt, r.outcome) for r in rows if r.run_id == run_id)


async def run_ids(app: AgentBatch, job_id: str) -> dict[str, str]:
    return {r["agent_id"]: r["id"] for r in await app.jobs.job_runs(None, job_id)}


@pytest.mark.parametrize("model", [SONNET, GPT])
async def test_429_is_retried_after_the_providers_hint(
    ab: AgentBatch, emus: Emulators, model: str
) -> None:
    faults = faults_of(emus, model)
    faults.http += [
        HttpFault(429, path_contains="/batches", method="POST", times=2, retry_after=0.05),
        HttpFault(429, path_contains="/batches/", method="GET", times=1, retry_after=0.05),
    ]
    ids = await create_agents(ab, [model] * 3)
    sleeps = Sleeps()
    job = await drive(ab, await start_job(ab, ids), sleeps)

    await assert_all_completed(ab, job, ids, model.split("/")[0])
    assert all(f.times == 0 for f in faults.http)  # every injected 429 was met
    # two creates and one retrieve waited exactly what retry-after-ms asked (not the backoff)
    assert sleeps.retries == [0.05, 0.05, 0.05]
    assert job["provider_batches"] == {"ingested": 2}
    assert {(r.attempt, r.outcome) for r in await item_rows(ab, job["id"])} == {(1, "succeeded")}
    assert emus.openai.state.files == {}  # uploads of the refused creates were deleted
    emus.assert_no_invalid_requests()


@pytest.mark.parametrize("model", [SONNET, GPT])
async def test_500_on_create_is_retried_by_the_runtime(
    ab: AgentBatch, emus: Emulators, model: str
) -> None:
    faults_of(emus, model).http.append(HttpFault(500, path_contains="/batches", method="POST"))
    ids = await create_agents(ab, [model] * 3)
    sleeps = Sleeps()
    job = await drive(ab, await start_job(ab, ids), sleeps)

    await assert_all_completed(ab, job, ids, model.split("/")[0])
    assert sleeps.retries == [0.0]  # fast settings: zero backoff, one retry
    assert job["provider_batches"] == {"ingested": 2}
    emulated = len(emus.anthropic.batches) if model == SONNET else len(emus.openai.state.batches)
    assert emulated == 2  # the failed create made nothing at the provider
    assert {(r.attempt, r.outcome) for r in await item_rows(ab, job["id"])} == {(1, "succeeded")}
    assert emus.openai.state.files == {}  # incl. the input file uploaded for the failed create
    emus.assert_no_invalid_requests()


async def test_create_failing_past_its_retries_costs_the_items_an_attempt(
    database_url: str, emus: Emulators, _home: Path
) -> None:
    """SQLite and PostgreSQL: the batch is recorded failed, its items errored, and the runs
    go out again in a later batch, without duplicating their input."""
    app = await open_app(database_url, emus, _home, fast_settings(provider_retries=2))
    try:
        emus.anthropic.faults.http.append(
            HttpFault(500, path_contains="/batches", method="POST", times=3, message="overloaded")
        )
        ids = await create_agents(app, [SONNET] * 3)
        job = await drive(app, await start_job(app, ids))

        await assert_all_completed(app, job, ids, "anthropic")
        assert job["provider_batches"] == {"failed": 1, "ingested": 2}
        [failed] = [b for b in await provider_batch_rows(app, job["id"]) if b.status == "failed"]
        assert failed.external_id is None and failed.request_count == 3
        assert "HTTP 500" in failed.error and "overloaded" in failed.error
        rows = await item_rows(app, job["id"])
        for agent_id, run_id in (await run_ids(app, job["id"])).items():
            assert items_by_step(rows, run_id) == [
                (0, 1, "errored"),
                (0, 2, "succeeded"),
                (1, 1, "succeeded"),
            ], agent_id
        errored = [r for r in rows if r.outcome == "errored"]
        assert all(r.error.startswith("batch could not be created") for r in errored)
        assert {r.provider_batch_id for r in errored} == {failed.id}
        assert len(emus.anthropic.batches) == 2
        emus.assert_no_invalid_requests()
    finally:
        await app.close()


async def test_slow_responses_within_the_timeout(ab: AgentBatch, emus: Emulators) -> None:
    emus.anthropic.faults.delay_s = 0.1
    ids = await create_agents(ab, [SONNET] * 3)
    started = time.monotonic()
    job = await drive(ab, await start_job(ab, ids))

    await assert_all_completed(ab, job, ids, "anthropic")
    # two steps, each a create, a retrieve and a results download: all of them slow
    assert time.monotonic() - started >= 6 * 0.1
    assert {(r.attempt, r.outcome) for r in await item_rows(ab, job["id"])} == {(1, "succeeded")}
    assert job["provider_batches"] == {"ingested": 2}


async def test_a_timed_out_call_is_retried(sqlite_url: str, emus: Emulators, _home: Path) -> None:
    """The provider answers slower than the client waits: the call times out and is retried
    (the emulator is fast again by then)."""
    assert emus.anthropic_srv is not None
    impatient = AnthropicBatchProvider(
        api_key="test-key", base_url=emus.anthropic_srv.url, timeout_s=1.0
    )
    app = await open_app(sqlite_url, emus, _home, anthropic=impatient)
    try:
        ids = await create_agents(app, [SONNET] * 3)
        job_id = await start_job(app, ids)
        emus.anthropic.faults.delay_s = 2.0
        sleeps = Sleeps()
        sleeps.then = lambda: setattr(emus.anthropic.faults, "delay_s", 0.0)
        job = await drive(app, job_id, sleeps)

        await assert_all_completed(app, job, ids, "anthropic")
        # the delay lifts only at the first retry: without a timeout the create would take 2 s
        assert sleeps.retries and set(sleeps.retries) == {0.0}
        assert job["provider_batches"] == {"ingested": 2}
        assert {(r.attempt, r.outcome) for r in await item_rows(app, job_id)} == {(1, "succeeded")}
        assert len(emus.anthropic.batches) == 2  # the timed-out create made nothing
    finally:
        await app.close()


@pytest.mark.parametrize("model", [SONNET, GPT])
async def test_errored_expired_and_canceled_items_are_retried(
    ab: AgentBatch, emus: Emulators, model: str
) -> None:
    faults = faults_of(emus, model)
    faults.content_outcomes += [
        ContentFault("fact-1", "errored"),
        ContentFault("fact-2", "expired"),
        ContentFault("fact-3", "canceled"),
        ContentFault("fact-4", "errored", times=-1),  # every attempt: its run fails
    ]
    ids = await create_agents(ab, [model] * 5)
    job_id = await start_job(ab, ids, max_attempts=2)
    job = await drive(ab, job_id)

    assert job["status"] == "completed"
    assert job["runs"]["completed"] == 4 and job["runs"]["failed"] == 1
    assert job["usage"]["model_calls"] == 8
    for i in range(4):
        await assert_agent_history(ab, job_id, ids[i], f"fact-{i}", model.split("/")[0])
    rows = await item_rows(ab, job_id)
    runs_of = await run_ids(ab, job_id)
    first = {"fact-1": "errored", "fact-2": "expired", "fact-3": "canceled"}
    for i, agent_id in enumerate(ids[:4]):
        expected = [(0, 1, first[f"fact-{i}"]), (0, 2, "succeeded")] if i else [(0, 1, "succeeded")]
        assert items_by_step(rows, runs_of[agent_id]) == [*expected, (1, 1, "succeeded")]
    # the run that kept failing: two attempts, then a clear error; nothing half-applied
    assert items_by_step(rows, runs_of[ids[4]]) == [(0, 1, "errored"), (0, 2, "errored")]
    [failed] = await ab.jobs.job_runs(None, job_id, status="failed")
    assert failed["agent_id"] == ids[4] and failed["step"] == 0
    assert failed["last_error"].startswith("errored: ")
    assert "after 2 attempt(s)" in failed["last_error"]
    assert kinds(await history(ab, job_id, ids[4])) == ["input"]
    blocks = (await ab.agents.get_agent(ab.org_id, ids[4]))["blocks"]
    assert blocks[0]["value"] == "" and blocks[0]["version"] == 1
    assert failed["usage"]["input_tokens"] == 0  # failed attempts bill nothing here
    emus.assert_no_invalid_requests()


async def _tick_until(app: AgentBatch, worker: Any, job_id: str, check: Any) -> int:
    for n in range(1, 50):
        await worker.tick()
        if check(await app.jobs.job_runs(None, job_id)):
            return n
    raise AssertionError("condition never held")


@pytest.mark.parametrize("model", [SONNET, GPT])
async def test_batch_in_progress_for_n_polls(ab: AgentBatch, emus: Emulators, model: str) -> None:
    faults_of(emus, model).polls_in_progress = 3
    ids = await create_agents(ab, [model] * 3)
    job_id = await start_job(ab, ids)
    worker = ab.worker()
    for _ in range(3):  # submit + 3 polls that find the batch still in progress
        await worker.tick()
        runs = await ab.jobs.job_runs(None, job_id)
        assert {(r["status"], r["step"]) for r in runs} == {("waiting_model", 0)}
        for agent_id in ids:
            assert kinds(await history(ab, job_id, agent_id)) == ["input"]
    [batch] = await provider_batch_rows(ab, job_id)
    assert (batch.status, batch.provider_status, batch.poll_count) == (
        "in_progress",
        "in_progress",
        3,
    )
    await worker.tick()  # the 4th poll sees it end: results applied
    runs = await ab.jobs.job_runs(None, job_id)
    assert all(r["step"] == 1 for r in runs)
    job = await drive(ab, job_id)

    await assert_all_completed(ab, job, ids, model.split("/")[0])
    batches = await provider_batch_rows(ab, job_id)
    assert [(b.status, b.poll_count) for b in batches] == [("ingested", 3), ("ingested", 3)]
    if model == SONNET:
        assert [b.polls_seen for b in emus.anthropic.batches.values()] == [4, 4]
    else:
        assert [b.status for b in emus.openai.state.batches.values()] == ["completed"] * 2
    emus.assert_no_invalid_requests()


@pytest.mark.parametrize("model", [SONNET, GPT])
async def test_cancel_while_a_batch_is_in_flight(
    ab: AgentBatch, emus: Emulators, model: str
) -> None:
    faults = faults_of(emus, model)
    ids = await create_agents(ab, [model] * 3)
    job_id = await start_job(ab, ids)
    worker = ab.worker()
    # step 0 ends at once and is applied; step 1's batch then stays in progress
    await _tick_until(ab, worker, job_id, lambda runs: all(r["step"] == 1 for r in runs))
    faults.polls_in_progress = 100
    await _tick_until(
        ab, worker, job_id, lambda runs: all(r["status"] == "waiting_model" for r in runs)
    )
    await worker.tick()

    cancelled = await ab.jobs.cancel_job(ab.org_id, job_id)
    assert cancelled["status"] == "cancelled" and cancelled["runs"]["cancelled"] == 3
    for _ in range(3):
        await worker.tick()  # nothing may change any more

    job = await ab.jobs.get_job(None, job_id)
    assert job["status"] == "cancelled" and job["runs"]["cancelled"] == 3
    assert job["usage"]["model_calls"] == 3  # step 0 of each agent, nothing of step 1
    for i, agent_id in enumerate(ids):
        msgs = await history(ab, job_id, agent_id)
        assert kinds(msgs) == HISTORY[:4]  # step 0 whole, step 1's heartbeat, no reply
        agent = await ab.agents.get_agent(ab.org_id, agent_id)
        assert agent["blocks"][0]["value"] == f"likes fact-{i}"  # the edit applied once
    for run in await ab.jobs.job_runs(None, job_id):
        assert (run["status"], run["step"], run["stop_reason"]) == ("cancelled", 1, "cancelled")
    rows = await item_rows(ab, job_id)
    step1 = [r for r in rows if r.step == 1]
    # settled by the cancel; what the provider still returned is recorded, marked ignored
    assert len(step1) == 3 and all(r.applied for r in step1)
    for r in step1:
        assert r.outcome == "canceled" or r.error.startswith("ignored"), (r.outcome, r.error)
    first, second = sorted(await provider_batch_rows(ab, job_id), key=lambda b: b.created_at)
    assert (first.status, second.status) == ("ingested", "canceled")
    # the provider was asked to cancel the in-flight batch
    if model == SONNET:
        emulated = emus.anthropic.batches[second.external_id]
        assert emulated.cancel_initiated_at is not None
        assert emulated.processing_status in ("canceling", "ended")
    else:
        emulated_o = emus.openai.state.batches[second.external_id]
        assert emulated_o.status in ("cancelling", "cancelled")
    # the worker follows the cancelled batch to its end and cleans up at the provider
    for _ in range(50):
        rows = sorted(await provider_batch_rows(ab, job_id), key=lambda b: b.created_at)
        if rows[1].cleanup == "done":
            break
        await worker.tick()
    assert rows[1].cleanup == "done" and rows[1].status == "canceled"
    if model == GPT:
        emulated_o = emus.openai.state.batches[second.external_id]
        assert emulated_o.status == "cancelled"
        assert emulated_o.input_file_id not in emus.openai.state.files  # deleted
    emus.assert_no_invalid_requests()


async def test_openai_compatible_handle_unknown_after_restart(
    database_url: str, emus: Emulators, _home: Path
) -> None:
    """SQLite and PostgreSQL: a worker restart loses the in-process batch; the new worker's
    provider does not know the handle, so its items count as expired and go out again."""
    assert emus.openai_srv is not None
    base_url = f"{emus.openai_srv.url}/v1"
    before = OpenAICompatibleProvider(base_url, concurrency=2)
    app = await open_app(database_url, emus, _home, openai_compatible=before)
    emus.openai.faults.delay_s = 1.0  # still running when the worker "dies"
    ids = await create_agents(app, [COMPATIBLE] * 3)
    job_id = await start_job(app, ids, options={"script": SCRIPT})
    await app.worker().tick()
    [lost] = await provider_batch_rows(app, job_id)
    assert lost.status == "in_progress" and lost.external_id.startswith("ocb_")
    await app.close()  # the process ends: its in-flight calls are gone

    emus.openai.faults.delay_s = 0.0
    after = OpenAICompatibleProvider(base_url, concurrency=2)
    app = await open_app(database_url, emus, _home, openai_compatible=after)
    try:
        job = await drive(app, job_id)
        # no prompt_cache_key on this path, so the emulator's {agent_id} is empty
        await assert_all_completed(app, job, ids, "openai", reply=False)
        batches = {b.id: b for b in await provider_batch_rows(app, job_id)}
        assert batches[lost.id].status == "ingested"
        assert batches[lost.id].error == "unknown to the provider"
        assert Counter(b.status for b in batches.values()) == {"ingested": 3}
        rows = await item_rows(app, job_id)
        for run_id in (await run_ids(app, job_id)).values():
            assert items_by_step(rows, run_id) == [
                (0, 1, "expired"),
                (0, 2, "succeeded"),
                (1, 1, "succeeded"),
            ]
        expired = [r for r in rows if r.outcome == "expired"]
        assert {r.error for r in expired} == {"the provider no longer knows this batch"}
        emus.assert_no_invalid_requests()
    finally:
        await app.close()
