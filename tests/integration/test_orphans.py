"""A worker that dies between the provider's create and recording it leaves a batch at
the provider that nobody knows. Recovery finds it by its tag (OpenAI: batch metadata;
Anthropic: creation time and request count, as Message Batches carry no metadata) and
cancels it, through the official SDKs against the emulators."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from agentbatch.app import AgentBatch
from agentbatch.runtime.submit import submit_pass
from tests.integration.fencing_support import Clock, batch_rows
from tests.integration.test_provider_faults import faults_of, start_job
from tests.integration.test_provider_jobs import GPT, SONNET, Emulators, create_agents


class Crash(BaseException):
    pass


@pytest.mark.parametrize("model", [SONNET, GPT])
async def test_orphan_of_a_crash_is_found_and_cancelled(
    ab: AgentBatch, emus: Emulators, model: str
) -> None:
    ids = await create_agents(ab, [model] * 3)
    job_id = await start_job(ab, ids)
    faults_of(emus, model).polls_in_progress = 3  # the orphan would keep running
    clock = Clock()
    dead = ab.worker(clock=clock, owner="dead")

    async def crash(**info: Any) -> None:
        raise Crash

    dead.ctx.hooks.on("created", crash)
    with contextlib.suppress(Crash):
        await submit_pass(dead.ctx)
    clock.advance(3600)
    alive = ab.worker(clock=clock, owner="alive")
    assert await alive.run_until(job_id, timeout_s=60) == "completed"
    for _ in range(100):
        if all(b.cleanup == "done" for b in await batch_rows(ab, job_id)):
            break
        await alive.tick()
    rows = await batch_rows(ab, job_id)
    first = rows[0]
    assert first.status == "failed" and first.cleanup == "done"
    orphan = first.external_id
    assert orphan is not None and orphan not in {r.external_id for r in rows[1:]}
    if model == SONNET:
        emulated = emus.anthropic.batches[orphan]
        assert emulated.cancel_initiated_at is not None
        others = [emus.anthropic.batches[r.external_id] for r in rows[1:]]
        assert all(b.cancel_initiated_at is None for b in others)  # only the orphan
    else:
        assert emus.openai.state.batches[orphan].status in ("cancelling", "cancelled")
        others_o = [emus.openai.state.batches[r.external_id] for r in rows[1:]]
        assert all(b.status == "completed" for b in others_o)
        assert emus.openai.state.batches[orphan].metadata["agentbatch_job"] == job_id
    job = await ab.jobs.get_job(None, job_id)
    assert job["runs"]["completed"] == 3
