"""Multi-step jobs through the official SDKs against the Anthropic and OpenAI emulators
(SQLite and PostgreSQL): memory edit with a heartbeat, then send_message; a job that mixes
providers and models; usage stored per item, run and job; cost with the batch discount;
and the emulators never saw a request the real APIs would reject."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from agentbatch.app import AgentBatch
from agentbatch.bench import BenchConfig, run_bench
from agentbatch.providers.anthropic import AnthropicBatchProvider
from agentbatch.providers.openai_batch import OpenAIBatchProvider
from agentbatch.providers.registry import ProviderRegistry
from agentbatch.providers.scripted import ScriptedProvider
from agentbatch.store.tables import batch_items, provider_batches, runs
from agentbatch.testing.anthropic import AnthropicEmulator
from agentbatch.testing.openai import OpenAIEmulator
from agentbatch.testing.server import BackgroundServer
from tests.conftest import fast_settings
from tests.helpers import history, kinds, tool_status

SONNET = "anthropic/claude-sonnet-4-5"
HAIKU = "anthropic/claude-haiku-4-5"
GPT = "openai/gpt-4.1-mini"
SCRIPTED = "scripted/test"
SCRIPT: list[dict[str, Any]] = [
    {
        "tool": "core_memory_append",
        "args": {"label": "human", "content": "likes {input}"},
        "heartbeat": True,
    },
    {"tool": "send_message", "args": {"message": "Noted for {agent_id}."}, "heartbeat": False},
]
# long enough (> 1,024 tokens) for the OpenAI emulator to report cached prompt tokens
SYSTEM = "You are a note-taking agent. Record what you learn about the user, then reply. " * 60
AGENT_SPEC: dict[str, Any] = {
    "system": SYSTEM,
    "blocks": [{"label": "human", "value": "", "description": "What I know about the user"}],
    "tools": ["send_message", "core_memory_append"],
}
HISTORY = ["input", "assistant", "tool", "heartbeat", "assistant", "tool"]
CALL_ID_PREFIX = {"anthropic": "toolu_", "openai": "call_", "scripted": "call_"}


class Emulators:
    """Both emulators, served on 127.0.0.1, with what each answered."""

    def __init__(self, script: list[dict[str, Any]]) -> None:
        self.anthropic = AnthropicEmulator(script)
        self.openai = OpenAIEmulator(script)
        self.openai_answers: list[tuple[str, int | str]] = []  # (custom_id, status or code)
        respond = self.openai.state.respond

        def recording(body: dict[str, Any], custom_id: str) -> Any:
            answer = respond(body, custom_id)
            self.openai_answers.append(
                (custom_id, answer if isinstance(answer, str) else answer[0])
            )
            return answer

        self.openai.state.respond = recording  # type: ignore[method-assign]
        self.anthropic_srv: BackgroundServer | None = None
        self.openai_srv: BackgroundServer | None = None

    @contextlib.contextmanager
    def serving(self) -> Iterator[Emulators]:
        """Serve both; stop them together (each stop waits for uvicorn's shutdown)."""
        self.anthropic_srv, self.openai_srv = self.anthropic.serve(), self.openai.serve()
        try:
            yield self
        finally:
            stops = [threading.Thread(target=s.stop) for s in (self.anthropic_srv, self.openai_srv)]
            for thread in stops:
                thread.start()
            for thread in stops:
                thread.join()

    def anthropic_results(self) -> list[tuple[str, dict[str, Any]]]:
        """(custom_id, result) of every request the Anthropic emulator processed."""
        with self.anthropic.lock:
            return [item for b in self.anthropic.batches.values() for item in b.items]

    def assert_no_invalid_requests(self) -> None:
        invalid = [
            (cid, r["error"]["error"])
            for cid, r in self.anthropic_results()
            if r["type"] == "errored" and r["error"]["error"]["type"] == "invalid_request_error"
        ]
        assert invalid == []
        bad_lines = [(cid, s) for cid, s in self.openai_answers if isinstance(s, int) and s == 400]
        assert bad_lines == []
        with self.openai.state.lock:
            assert [b.errors for b in self.openai.state.batches.values() if b.errors] == []


def providers_for(emus: Emulators, home: Path) -> ProviderRegistry:
    assert emus.anthropic_srv is not None and emus.openai_srv is not None
    return ProviderRegistry(
        {
            "anthropic": AnthropicBatchProvider(
                api_key="test-key", base_url=emus.anthropic_srv.url
            ),
            "openai": OpenAIBatchProvider(api_key="test-key", base_url=f"{emus.openai_srv.url}/v1"),
            "scripted": ScriptedProvider(home / "scripted"),
        }
    )


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


async def create_agents(app: AgentBatch, models: list[str]) -> list[str]:
    ids = []
    for i, model in enumerate(models):
        body = {"name": f"agent-{i}", "model": model, **AGENT_SPEC}
        ids.append((await app.agents.create_agent(app.org_id, body))["id"])
    return ids


async def run_facts_job(app: AgentBatch, agent_ids: list[str], **job: Any) -> dict[str, Any]:
    """Agent i is told ``fact-i``; the scripted provider gets the script from the job."""
    created = await app.jobs.create_job(
        app.org_id,
        {
            "requests": [{"agent_id": a, "messages": f"fact-{i}"} for i, a in enumerate(agent_ids)],
            "max_steps": 4,
            "options": {"script": SCRIPT},
            **job,
        },
    )
    return await app.run_job(created["id"], timeout_s=30)


async def assert_agent_history(
    app: AgentBatch,
    job_id: str,
    agent_id: str,
    fact: str,
    provider: str,
    *,
    agent_reply: bool = True,
) -> dict[str, Any]:
    """The agent's two steps, in order, with the provider's tool-call ids; its memory edit
    applied once. ``agent_reply``: the model knew the agent's id (the adapter sent it).
    Returns its run."""
    reply_text = f"Noted for {agent_id if agent_reply else ''}."
    msgs = await history(app, job_id, agent_id)
    assert kinds(msgs) == HISTORY
    _, edit, edit_result, heartbeat, reply, reply_result = msgs
    assert msgs[0]["content"] == fact
    [call] = edit["tool_calls"]
    assert call["name"] == "core_memory_append"
    assert json.loads(call["arguments"]) == {
        "label": "human",
        "content": f"likes {fact}",
        "request_heartbeat": True,
    }
    assert call["id"].startswith(CALL_ID_PREFIX[provider])
    assert edit_result["tool_call_id"] == call["id"] and tool_status(edit_result) == "OK"
    assert heartbeat["role"] == "user" and heartbeat["step"] == 1
    [send] = reply["tool_calls"]
    assert send["name"] == "send_message" and send["id"] != call["id"]
    assert json.loads(send["arguments"])["message"] == reply_text
    assert reply_result["tool_call_id"] == send["id"] and tool_status(reply_result) == "OK"
    agent = await app.agents.get_agent(app.org_id, agent_id)
    assert [(b["label"], b["value"]) for b in agent["blocks"]] == [("human", f"likes {fact}")]
    [run] = [r for r in await app.jobs.job_runs(None, job_id) if r["agent_id"] == agent_id]
    assert run["status"] == "completed" and run["step"] == 2 and run["attempt"] == 1
    assert run["reply"] == reply_text and run["last_error"] is None
    return run


async def item_rows(app: AgentBatch, job_id: str) -> list[Any]:
    async with app.db.read() as conn:
        query = select(batch_items).where(batch_items.c.job_id == job_id)
        return list((await conn.execute(query)).all())


async def assert_usage_stored(app: AgentBatch, job: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Every succeeded item keeps its usage; each run's tokens are its items' sums; the
    job's are its runs' sums. Returns usage per model."""
    fields = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    per_run: dict[str, Counter[str]] = {}
    for item in await item_rows(app, job["id"]):
        assert item.applied
        if item.outcome == "succeeded":
            usage = item.result["usage"]
            assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
            per_run.setdefault(item.run_id, Counter()).update({f: int(usage[f]) for f in fields})
    async with app.db.read() as conn:
        run_rows = (await conn.execute(select(runs).where(runs.c.job_id == job["id"]))).all()
    by_model: dict[str, Counter[str]] = {}
    for row in run_rows:
        stored = {f: int(getattr(row, f)) for f in fields}
        assert stored == {f: per_run[row.id][f] for f in fields}, row.agent_id
        by_model.setdefault(row.model, Counter()).update(stored)
    totals = {f: sum(c[f] for c in by_model.values()) for f in fields}
    assert {f: job["usage"][f] for f in fields} == totals
    assert job["usage"]["model_calls"] == sum(r.step for r in run_rows)
    return {model: dict(c) for model, c in by_model.items()}


def assert_batch_cost(job: dict[str, Any], unpriced: list[str]) -> None:
    cost = job["cost"]
    assert cost["usd"] > 0 and cost["unpriced_models"] == unpriced
    assert cost["batch_savings_usd"] > 0
    assert cost["usd"] == pytest.approx(cost["live_usd"] / 2, abs=2e-6)  # 50% batch discount
    assert cost["batch_savings_usd"] == pytest.approx(cost["live_usd"] - cost["usd"], abs=2e-6)


async def provider_batch_rows(app: AgentBatch, job_id: str) -> list[Any]:
    async with app.db.read() as conn:
        query = select(provider_batches).where(provider_batches.c.job_id == job_id)
        return list((await conn.execute(query)).all())


@pytest.mark.parametrize("model", [SONNET, GPT])
async def test_multi_step_job_through_the_official_sdk(
    ab: AgentBatch, emus: Emulators, model: str
) -> None:
    provider = model.split("/")[0]
    ids = await create_agents(ab, [model] * 5)
    job = await run_facts_job(ab, ids)

    assert job["status"] == "completed" and job["runs"]["completed"] == 5
    assert job["usage"]["model_calls"] == 10
    assert job["provider_batches"] == {"ingested": 2}  # one batch per step
    for i, agent_id in enumerate(ids):
        await assert_agent_history(ab, job["id"], agent_id, f"fact-{i}", provider)
    batches = await provider_batch_rows(ab, job["id"])
    assert sorted((b.provider, b.request_count, b.error) for b in batches) == [
        (provider, 5, None),
        (provider, 5, None),
    ]
    assert all(b.external_id and b.payload_bytes > 0 for b in batches)

    usage = (await assert_usage_stored(ab, job))[model]
    assert usage["cache_read_tokens"] > 0  # agents share the tools + system prefix
    assert_batch_cost(job, unpriced=[])
    assert job["cost"]["cache_savings_usd"] != 0

    if provider == "anthropic":
        results = emus.anthropic_results()
        assert len(results) == 10 and all(r["type"] == "succeeded" for _, r in results)
        # custom_id is the item id: every stored item was sent once
        assert sorted(cid for cid, _ in results) == sorted(
            i.id for i in await item_rows(ab, job["id"])
        )
        emulated = Counter[str]()
        for _, r in results:
            emulated.update({k: v for k, v in r["message"]["usage"].items() if isinstance(v, int)})
        # what the emulator billed is what was stored
        assert usage["cache_write_tokens"] == emulated["cache_creation_input_tokens"] > 0
        assert usage["cache_read_tokens"] == emulated["cache_read_input_tokens"]
        assert usage["input_tokens"] == emulated["input_tokens"]
        assert usage["output_tokens"] == emulated["output_tokens"]
    else:
        assert Counter(s for _, s in emus.openai_answers) == {200: 10}
        with emus.openai.state.lock:
            emulated_batches = list(emus.openai.state.batches.values())
            leftover_files = dict(emus.openai.state.files)
        assert [b.status for b in emulated_batches] == ["completed", "completed"]
        prompt = sum(b.usage["input"] for b in emulated_batches)
        cached = sum(b.usage["cached"] for b in emulated_batches)
        assert usage["input_tokens"] + usage["cache_read_tokens"] == prompt
        assert usage["cache_read_tokens"] == cached and usage["cache_write_tokens"] == 0
        assert usage["output_tokens"] == sum(b.usage["output"] for b in emulated_batches)
        assert leftover_files == {}  # input, output (and error) files deleted once ingested
    emus.assert_no_invalid_requests()


async def test_one_job_mixes_providers_and_models(ab: AgentBatch, emus: Emulators) -> None:
    models = [SONNET, GPT, SCRIPTED, HAIKU] * 3
    ids = await create_agents(ab, models)
    job = await run_facts_job(ab, ids)

    assert job["status"] == "completed" and job["runs"]["completed"] == 12
    assert job["usage"]["model_calls"] == 24
    for i, (agent_id, model) in enumerate(zip(ids, models, strict=True)):
        run = await assert_agent_history(ab, job["id"], agent_id, f"fact-{i}", model.split("/")[0])
        assert run["model"] == model
    # one provider batch per (model, step), each holding only that model's agents
    batches = await provider_batch_rows(ab, job["id"])
    assert Counter((b.provider, b.model, b.request_count) for b in batches) == {
        ("anthropic", SONNET, 3): 2,
        ("anthropic", HAIKU, 3): 2,
        ("openai", GPT, 3): 2,
        ("scripted", SCRIPTED, 3): 2,
    }
    with emus.anthropic.lock:
        assert len(emus.anthropic.batches) == 4
    with emus.openai.state.lock:
        assert sorted(b.model or "" for b in emus.openai.state.batches.values()) == [
            "gpt-4.1-mini",
            "gpt-4.1-mini",
        ]
    assert len(emus.anthropic_results()) == 12 and len(emus.openai_answers) == 6
    assert all(r["type"] == "succeeded" for _, r in emus.anthropic_results())
    assert {s for _, s in emus.openai_answers} == {200}

    by_model = await assert_usage_stored(ab, job)
    assert set(by_model) == {SONNET, HAIKU, GPT, SCRIPTED}
    anthropic_usage = [by_model[SONNET], by_model[HAIKU]]
    assert all(u["cache_write_tokens"] > 0 and u["cache_read_tokens"] > 0 for u in anthropic_usage)
    assert by_model[SCRIPTED]["cache_write_tokens"] == 0
    assert_batch_cost(job, unpriced=[SCRIPTED])  # scripted tokens have no price
    emus.assert_no_invalid_requests()


@pytest.mark.parametrize("name", ["anthropic-emulator", "openai-emulator"])
async def test_bench_runs_through_each_emulator(name: str) -> None:
    """`agentbatch bench --provider <name>`: the bench's own script, answered by the emulator."""
    result = await run_bench(BenchConfig(agents=20, steps=2, provider=name))
    assert result["status"] == "completed" and result["runs"]["completed"] == 20
    assert result["agent_steps"] == 40 and result["ms_per_agent_step"] > 0
    assert set(result["phases"]) == {"prepare+submit", "apply", "poll+ingest"}
