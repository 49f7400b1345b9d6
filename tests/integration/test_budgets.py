"""Estimates and budgets through the Anthropic and OpenAI emulators (SQLite and
PostgreSQL): the first step's estimate is within 10% of the input tokens the emulators
bill for it, and sends nothing; a job with ``max_cost_usd`` stops within one submission of
its limit, its stopped runs ending ``budget_exhausted`` with the spend shown."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from agentbatch.app import AgentBatch
from agentbatch.domain.model_io import Usage
from agentbatch.pricing import DEFAULT_PRICES
from agentbatch.store.tables import batch_items, batch_jobs, runs
from tests.conftest import fast_settings
from tests.integration.test_provider_jobs import AGENT_SPEC, GPT, SONNET, Emulators, providers_for

SCRIPT: list[dict[str, Any]] = [
    {
        "tool": "core_memory_append",
        "args": {"label": "human", "content": "x{step}"},
        "heartbeat": True,
    },
    {
        "tool": "core_memory_append",
        "args": {"label": "human", "content": "y{step}"},
        "heartbeat": True,
    },
    {"tool": "send_message", "args": {"message": "Noted."}, "heartbeat": False},
]


@pytest.fixture
def emus() -> Iterator[Emulators]:
    with Emulators(SCRIPT).serving() as emulators:
        yield emulators


@pytest.fixture
async def ab(database_url: str, emus: Emulators, _home: Path) -> AsyncIterator[AgentBatch]:
    app = await AgentBatch.open(
        database_url, settings=fast_settings(), registry=providers_for(emus, _home), upgrade=True
    )
    try:
        yield app
    finally:
        await app.close()


async def tagged(app: AgentBatch, model: str, tag: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        body = {"name": f"{tag}-{i}", "model": model, "tags": [tag], **AGENT_SPEC}
        ids.append((await app.agents.create_agent(app.org_id, body))["id"])
    return ids


async def step_usage(app: AgentBatch, job_id: str) -> dict[int, Usage]:
    """Billed usage of each step of a job, from its items' results."""
    async with app.db.read() as conn:
        rows = (
            await conn.execute(
                select(batch_items.c.step, batch_items.c.result).where(
                    batch_items.c.job_id == job_id, batch_items.c.outcome == "succeeded"
                )
            )
        ).all()
    out: dict[int, Usage] = defaultdict(Usage)
    for row in rows:
        out[row.step] = out[row.step] + Usage.from_dict(row.result["usage"])
    return out


def billed_input(u: Usage) -> int:
    return u.input_tokens + u.cache_read_tokens + u.cache_write_tokens


async def test_the_estimate_is_within_ten_percent_and_sends_nothing(ab: AgentBatch) -> None:
    await tagged(ab, SONNET, "est", 3)
    await tagged(ab, GPT, "est", 3)
    spec = {"agents": {"tags": ["est"]}, "messages": "I like green tea.", "max_steps": 1}
    estimate = await ab.estimates.estimate_job(ab.org_id, spec)
    async with ab.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(batch_jobs))).scalar_one() == 0
    assert estimate["requests"] == 6 and estimate["unpriced_models"] == []
    assert estimate["input_usd"] > 0 and estimate["max_usd"] > estimate["expected_usd"]
    job = await ab.jobs.create_job(ab.org_id, spec)
    await ab.run_job(job["id"], timeout_s=60)
    for model in (SONNET, GPT):
        async with ab.db.read() as conn:
            rows = await conn.execute(
                select(batch_items.c.result)
                .join(runs, runs.c.id == batch_items.c.run_id)
                .where(runs.c.job_id == job["id"], runs.c.model == model, batch_items.c.step == 0)
            )
            billed = sum(billed_input(Usage.from_dict(r.result["usage"])) for r in rows)
        guessed = estimate["by_model"][model]["input_tokens"]
        assert billed > 3 * 1000  # a long system prompt: enough to be worth estimating
        assert guessed == pytest.approx(billed, rel=0.10), (model, guessed, billed)


async def test_a_budget_stops_the_job_within_one_submission(ab: AgentBatch) -> None:
    # a job without a budget, to know what a full run costs here (and per step)
    probe_ids = await tagged(ab, SONNET, "probe", 4)
    probe = await ab.jobs.create_job(
        ab.org_id, {"agents": {"ids": probe_ids}, "messages": "I like tea.", "max_steps": 3}
    )
    probe = await ab.run_job(probe["id"], timeout_s=60)
    full = probe["cost"]["usd"]
    price = DEFAULT_PRICES[SONNET]
    per_step = [
        (
            u.input_tokens * price.input
            + u.output_tokens * price.output
            + u.cache_read_tokens * price.cache_read
            + u.cache_write_tokens * price.cache_write
        )
        / 1e6
        * (1 - price.batch_discount)
        for u in (await step_usage(ab, probe["id"])).values()
    ]
    assert len(per_step) == 3 and sum(per_step) == pytest.approx(full, rel=1e-3)
    one_submission = max(per_step)
    limit = round(full * 0.5, 8)
    capped_ids = await tagged(ab, SONNET, "capped", 4)
    job = await ab.jobs.create_job(
        ab.org_id,
        {
            "agents": {"ids": capped_ids},
            "messages": "I like tea.",
            "max_steps": 3,
            "max_cost_usd": limit,
        },
    )
    job = await ab.run_job(job["id"], timeout_s=60)
    spent = job["cost"]["usd"]
    assert limit - one_submission <= spent <= limit + one_submission, (spent, limit, per_step)
    budget = job["budget"]
    assert budget["max_cost_usd"] == limit and budget["spent_usd"] == spent
    assert budget["in_flight"] == 0 and budget["exhausted_runs"] >= 1
    stopped = await ab.jobs.job_runs(ab.org_id, job["id"], status="failed")
    assert len(stopped) == budget["exhausted_runs"]
    for run in stopped:
        assert run["stop_reason"] == "budget_exhausted"
        assert run["last_error"].startswith("budget exhausted: the job has spent $")
    completed = await ab.jobs.job_runs(ab.org_id, job["id"], status="completed")
    assert len(completed) + len(stopped) == 4


async def test_a_budget_below_one_request_stops_every_run(ab: AgentBatch) -> None:
    ids = await tagged(ab, SONNET, "tiny", 2)
    job = await ab.jobs.create_job(
        ab.org_id, {"agents": {"ids": ids}, "messages": "hi", "max_cost_usd": 1e-9}
    )
    job = await ab.run_job(job["id"], timeout_s=60)
    assert job["status"] == "failed"
    assert job["error"].startswith("2 of 2 runs failed: budget_exhausted ×2")
    assert job["cost"]["usd"] == 0 and job["budget"]["exhausted_runs"] == 2
