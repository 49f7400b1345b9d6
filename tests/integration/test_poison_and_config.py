"""One bad item fails alone; configuration errors and rejected requests fail at once
(SQLite and PostgreSQL): NUL and lone surrogates in model text and tool results are
stored (replaced, the rest kept), a value the database refuses fails only its item's
step, a missing provider key fails its runs naming the variable without burning retries,
and a request the provider rejects as invalid is not sent again."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import select

from agentbatch.app import AgentBatch
from agentbatch.domain.messages import ToolCall
from agentbatch.domain.model_io import ItemResult, Outcome, Usage
from agentbatch.store.tables import runs
from agentbatch.testing.recording import RecordingProvider
from tests.integration.fencing_support import (
    EXPECTED,
    Held,
    agents,
    assert_consistent,
    job_messages,
    start,
)

BAD = "a\x00b\ud800c"  # NUL and a lone surrogate
CLEAN = "a\ufffdb\ufffdc"


async def _run_states(app: AgentBatch, job_id: str) -> dict[str, tuple[str, str, str, int]]:
    async with app.db.read() as conn:
        rows = await conn.execute(
            select(
                runs.c.agent_id, runs.c.status, runs.c.error_kind, runs.c.last_error, runs.c.attempt
            ).where(runs.c.job_id == job_id)
        )
        return {r.agent_id: (r.status, r.error_kind, r.last_error, r.attempt) for r in rows}


def _poisoned_text(item: ItemResult) -> ItemResult:
    """Model text, reasoning and tool arguments carrying NUL and lone surrogates."""
    assert item.response is not None
    calls = []
    for call in item.response.tool_calls:
        args = json.loads(call.arguments)
        for key in ("content", "message"):
            if key in args:
                args[key] = args[key] + BAD
        calls.append(ToolCall(call.id, call.name, json.dumps(args)))  # \u0000, \ud800 escapes
    response = dataclasses.replace(
        item.response, content=BAD, reasoning=BAD, tool_calls=tuple(calls)
    )
    return dataclasses.replace(item, response=response, response_json=None)


async def test_nul_and_lone_surrogates_are_stored_replaced(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await agents(app, 3)
    held = Held(recorder)
    held.alter = _poisoned_text
    app.registry.register("scripted", held)  # type: ignore[arg-type]
    job_id = await start(app, ids)
    assert await app.worker().run_until(job_id, timeout_s=60) == "completed"
    job = await app.jobs.get_job(None, job_id)
    assert job["runs"]["completed"] == 3
    for agent_id in ids:
        rows = [m for m in await job_messages(app, job_id) if m.agent_id == agent_id]
        assert [m.kind for m in rows] == EXPECTED
        assistant = [m for m in rows if m.kind == "assistant"]
        assert all(m.content == CLEAN and m.reasoning == CLEAN for m in assistant)
        tools = [m for m in rows if m.kind == "tool"]
        assert all(json.loads(m.content)["status"] == "OK" for m in tools)
        block = (await app.agents.get_agent(app.org_id, agent_id))["blocks"][0]["value"]
        assert block == "n0" + CLEAN  # the edit applied once, its text kept around the fix
        replies = [r["reply"] for r in await app.jobs.job_runs(None, job_id)]
        assert all(r == "done" + CLEAN for r in replies)


async def _refuse_poison(app: AgentBatch) -> None:
    """A database trigger that refuses any message whose text is POISON: a value the
    database refuses, whatever the reason (a constraint, an encoding, a size)."""
    async with app.db.write() as conn:
        if app.db.is_sqlite:
            await conn.exec_driver_sql(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages "
                "WHEN NEW.content = 'POISON' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        else:
            await conn.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
                "IF NEW.content = 'POISON' THEN RAISE EXCEPTION 'refused'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            await conn.exec_driver_sql(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages "
                "FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
            )


async def _drop_poison_trigger(app: AgentBatch) -> None:
    async with app.db.write() as conn:
        if app.db.is_sqlite:
            await conn.exec_driver_sql("DROP TRIGGER refuse_poison")
        else:
            await conn.exec_driver_sql("DROP TRIGGER refuse_poison ON messages")


async def test_a_value_the_database_refuses_fails_only_its_step(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await agents(app, 5)
    held = Held(recorder)
    victim: list[str] = []

    def poison(item: ItemResult) -> ItemResult:
        # the first result seen carries text the database refuses
        if victim and item.custom_id != victim[0]:
            return item
        victim.append(item.custom_id)
        assert item.response is not None
        bad = dataclasses.replace(item.response, content="POISON")
        return dataclasses.replace(item, response=bad, response_json=None)

    held.alter = poison
    app.registry.register("scripted", held)  # type: ignore[arg-type]
    await _refuse_poison(app)
    try:
        job_id = await start(app, ids)
        assert await app.worker().run_until(job_id, timeout_s=60) == "completed"
    finally:
        await _drop_poison_trigger(app)
    job = await assert_consistent(app, job_id, ids)
    assert job["runs"]["completed"] == 4 and job["runs"]["failed"] == 1
    states = await _run_states(app, job_id)
    failed = [s for s in states.values() if s[0] == "failed"]
    assert failed[0][1] == "apply" and "could not be applied" in failed[0][2]
    assert "refused" in failed[0][2] and "INSERT" not in failed[0][2]  # no SQL shown


async def test_absurd_token_counts_are_capped_not_stored_as_given(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await agents(app, 2)
    held = Held(recorder)

    def huge(item: ItemResult) -> ItemResult:
        assert item.response is not None
        usage = Usage(input_tokens=2**70, output_tokens=-5)
        return dataclasses.replace(
            item, response=dataclasses.replace(item.response, usage=usage), response_json=None
        )

    held.alter = huge
    app.registry.register("scripted", held)  # type: ignore[arg-type]
    job_id = await start(app, ids)
    assert await app.worker().run_until(job_id, timeout_s=60) == "completed"
    usage = (await app.jobs.get_job(None, job_id))["usage"]
    assert 0 < usage["input_tokens"] <= 2 * 2 * (1 << 40) and usage["output_tokens"] == 0


async def test_missing_provider_key_fails_at_once_and_the_worker_goes_on(
    app: AgentBatch, recorder: RecordingProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    keyless = [
        (
            await app.agents.create_agent(
                app.org_id, {"name": f"k{i}", "model": "anthropic/claude-haiku-4-5"}
            )
        )["id"]
        for i in range(2)
    ]
    job_id = await start(app, keyless)
    scripted = await agents(app, 2)
    other = await start(app, scripted)
    worker = app.worker()
    assert await worker.run_until(job_id, timeout_s=60) == "failed"  # returns, never raises
    job = await app.jobs.get_job(None, job_id)
    assert "ANTHROPIC_API_KEY is not set" in job["error"] and "config" in job["error"]
    for status, kind, error, attempt in (await _run_states(app, job_id)).values():
        assert (status, kind, attempt) == ("failed", "config", 1)  # no retry burned
        assert "ANTHROPIC_API_KEY is not set" in error
    assert await worker.run_until(other, timeout_s=60) == "completed"


async def test_a_request_the_provider_rejects_is_not_sent_again(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    ids = await agents(app, 3)
    held = Held(recorder)
    bad_agent: list[str] = []

    def reject(item: ItemResult) -> ItemResult:
        if not bad_agent:
            bad_agent.append(item.custom_id)
        if item.custom_id != bad_agent[0]:
            return item
        return ItemResult(
            item.custom_id,
            Outcome.ERRORED,
            error="invalid_request_error: max_tokens: 99999 > 8192",
            retryable=False,
        )

    held.alter = reject
    app.registry.register("scripted", held)  # type: ignore[arg-type]
    job_id = await start(app, ids)
    assert await app.worker().run_until(job_id, timeout_s=60) == "completed"
    states = await _run_states(app, job_id)
    failed = {a: s for a, s in states.items() if s[0] == "failed"}
    assert len(failed) == 1
    [(agent_id, (_, kind, error, attempt))] = failed.items()
    assert (kind, attempt) == ("invalid_request", 1)
    assert "max_tokens: 99999 > 8192" in error
    assert len(recorder.requests[agent_id]) == 1  # sent once, never retried
