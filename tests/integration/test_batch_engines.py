"""The batch engines added beside Anthropic and OpenAI chat, each through its official SDK
(plain HTTP for OpenRouter) against its emulator, driven by the runtime: Gemini
(``google/``), Mistral, OpenRouter and the OpenAI Responses API (``endpoint: responses``).

For each engine: a multi-step job with a memory edit and a heartbeat (SQLite and
PostgreSQL) whose usage and cost match what the emulator billed; 429 with retry-after and
500 on create, retried; errored / expired items retried; a batch that expires half done
(what finished is kept, the rest retried); cancel while a batch is in flight. Then one job
mixing every engine (and ``local/``), each agent's requests going to its own engine.
One emulator server per engine for the whole module."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentbatch.app import AgentBatch
from agentbatch.domain.model_io import ModelRequest, ModelResponse
from agentbatch.providers.anthropic import AnthropicBatchProvider
from agentbatch.providers.google import GoogleBatchProvider
from agentbatch.providers.local import LocalProvider
from agentbatch.providers.mistral_batch import MistralBatchProvider
from agentbatch.providers.openai_batch import OpenAIBatchProvider
from agentbatch.providers.openrouter_batch import OpenRouterBatchProvider
from agentbatch.providers.registry import ProviderRegistry
from agentbatch.providers.scripted_model import answer
from agentbatch.testing.anthropic import AnthropicEmulator
from agentbatch.testing.faults import ContentFault, FaultPlan, HttpFault
from agentbatch.testing.google import GoogleEmulator
from agentbatch.testing.mistral import MistralEmulator
from agentbatch.testing.openai import OpenAIEmulator
from agentbatch.testing.openrouter import OpenRouterEmulator
from agentbatch.testing.server import BackgroundServer
from tests.conftest import fast_settings
from tests.helpers import history, kinds
from tests.integration.test_provider_jobs import (
    AGENT_SPEC,
    CALL_ID_PREFIX,
    HISTORY,
    SCRIPT,
    assert_agent_history,
    assert_usage_stored,
    item_rows,
    provider_batch_rows,
)

CALL_ID_PREFIX.update({"google": "gfc_", "mistral": "", "openrouter": "call_", "local": "local"})
GEMINI = "google/gemini-2.5-flash"
MISTRAL = "mistral/mistral-small-latest"
ROUTER = "openrouter/openai/gpt-4o-mini"
RESPONSES = "openai/o4-mini"  # with model_settings endpoint: responses
ENGINES = [GEMINI, MISTRAL, ROUTER, RESPONSES]


@dataclass
class Servers:
    anthropic: AnthropicEmulator
    openai: OpenAIEmulator
    google: GoogleEmulator
    mistral: MistralEmulator
    openrouter: OpenRouterEmulator
    urls: dict[str, str]

    def faults(self, model: str) -> FaultPlan:
        return {
            GEMINI: self.google.faults,
            MISTRAL: self.mistral.faults,
            ROUTER: self.openrouter.faults,
            RESPONSES: self.openai.faults,
        }[model]

    def expire(self, model: str, handle: str) -> None:
        if model == GEMINI:
            self.google.expire(handle)
        elif model == MISTRAL:
            self.mistral.expire(handle)
        elif model == ROUTER:
            self.openrouter.expire(handle)
        else:
            self.openai.expire(handle)

    def answered(self, model: str, handle: str) -> int:
        """How many requests of this batch the emulator has answered so far."""
        if model == GEMINI:
            return self.google.state.jobs[handle].done
        if model == MISTRAL:
            return self.mistral.jobs[handle].done
        if model == ROUTER:
            return self.openrouter.batches[handle].done
        return self.openai.state.batches[handle].done

    def reset(self) -> None:
        for emulator in (self.anthropic, self.openai, self.google, self.mistral, self.openrouter):
            emulator.faults.replace({})


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    emulators = {
        "anthropic": AnthropicEmulator(SCRIPT),
        "openai": OpenAIEmulator(SCRIPT),
        "google": GoogleEmulator(SCRIPT),
        "mistral": MistralEmulator(SCRIPT),
        "openrouter": OpenRouterEmulator(SCRIPT),
    }
    running: list[BackgroundServer] = []
    with contextlib.ExitStack() as stack:
        for emulator in emulators.values():
            running.append(stack.enter_context(emulator.serve()))
        urls = {name: srv.url for name, srv in zip(emulators, running, strict=True)}
        yield Servers(**emulators, urls=urls)  # type: ignore[arg-type]
        stops = [threading.Thread(target=s.stop) for s in running]
        for thread in stops:
            thread.start()
        for thread in stops:
            thread.join()


def scripted_generate(request: ModelRequest, *, should_stop: Any = None) -> ModelResponse:
    """The local engine's place in tests: the same script, answered in process."""
    latest = next((m.content or "" for m in reversed(request.messages) if m.kind == "input"), "")
    scripted = answer(
        SCRIPT,
        step=request.step,
        attempt=1,
        call_id_prefix=f"local{request.step}",
        agent_id=request.agent_id,
        latest_input=latest,
    )
    assert scripted.response is not None
    return scripted.response


def registry_for(servers: Servers) -> ProviderRegistry:
    urls = servers.urls
    return ProviderRegistry(
        {
            "anthropic": AnthropicBatchProvider(api_key="k", base_url=urls["anthropic"]),
            "openai": OpenAIBatchProvider(api_key="k", base_url=f"{urls['openai']}/v1"),
            "google": GoogleBatchProvider(api_key="k", base_url=urls["google"]),
            "mistral": MistralBatchProvider(api_key="k", base_url=urls["mistral"]),
            "openrouter": OpenRouterBatchProvider(
                api_key="k", base_url=f"{urls['openrouter']}/api/v1"
            ),
            "local": LocalProvider(generate=scripted_generate),
        }
    )


async def open_app(url: str, servers: Servers) -> AgentBatch:
    servers.reset()
    return await AgentBatch.open(
        url, settings=fast_settings(), registry=registry_for(servers), upgrade=True
    )


@pytest.fixture
async def ab(tmp_path: Path, servers: Servers) -> AsyncIterator[AgentBatch]:
    app = await open_app(f"sqlite+aiosqlite:///{tmp_path / 'engines.db'}", servers)
    try:
        yield app
    finally:
        await app.close()


def provider_of(model: str) -> str:
    return model.split("/")[0]


async def create_agents(app: AgentBatch, models: list[str]) -> list[str]:
    ids = []
    for i, model in enumerate(models):
        settings = {"endpoint": "responses"} if model == RESPONSES else {}
        body = {"name": f"a{i}", "model": model, "model_settings": settings, **AGENT_SPEC}
        ids.append((await app.agents.create_agent(app.org_id, body))["id"])
    return ids


async def start_job(app: AgentBatch, ids: list[str], **job: Any) -> str:
    created = await app.jobs.create_job(
        app.org_id,
        {
            "requests": [{"agent_id": a, "messages": f"fact-{i}"} for i, a in enumerate(ids)],
            "max_steps": 4,
            **job,
        },
    )
    return str(created["id"])


async def drive(app: AgentBatch, job_id: str) -> dict[str, Any]:
    await app.worker().run_until(job_id, timeout_s=60)
    return await app.jobs.get_job(None, job_id)


async def assert_completed(
    app: AgentBatch, job: dict[str, Any], ids: list[str], model: str
) -> None:
    assert job["status"] == "completed" and job["runs"]["completed"] == len(ids)
    for i, agent_id in enumerate(ids):
        # only the OpenAI adapter carries the agent id (prompt_cache_key) to its emulator
        await assert_agent_history(
            app,
            job["id"],
            agent_id,
            f"fact-{i}",
            provider_of(model),
            agent_reply=not model.startswith(("google/", "mistral/", "openrouter/")),
        )


def emulated_usage(servers: Servers, model: str, handles: set[str]) -> dict[str, int]:
    """What the emulator billed for these provider batches: prompt (incl. cached), cached
    and output tokens."""
    if model == GEMINI:
        results = [r for h in handles for r in servers.google.state.jobs[h].results]
        meta = [r["response"]["usageMetadata"] for r in results if "response" in r]
        return {
            "prompt": sum(m["promptTokenCount"] for m in meta),
            "cached": sum(m.get("cachedContentTokenCount", 0) for m in meta),
            "output": sum(m["candidatesTokenCount"] + m.get("thoughtsTokenCount", 0) for m in meta),
        }
    if model == MISTRAL:
        jobs = [servers.mistral.jobs[h] for h in handles]
        return {
            "prompt": sum(j.usage["prompt"] for j in jobs),
            "cached": 0,
            "output": sum(j.usage["completion"] for j in jobs),
        }
    if model == ROUTER:
        bodies = [
            r["response"]["body"]["usage"]
            for h in handles
            for r in (servers.openrouter.batches | servers.openrouter.deleted)[h].results
            if r["response"]
        ]
        return {
            "prompt": sum(u["prompt_tokens"] for u in bodies),
            "cached": sum(u["prompt_tokens_details"]["cached_tokens"] for u in bodies),
            "output": sum(u["completion_tokens"] for u in bodies),
        }
    batches = [servers.openai.state.batches[h] for h in handles]
    return {
        "prompt": sum(b.usage["input"] for b in batches),
        "cached": sum(b.usage["cached"] for b in batches),
        "output": sum(b.usage["output"] for b in batches),
    }


@pytest.mark.parametrize("model", ENGINES)
async def test_multi_step_job_through_each_engine(
    database_url: str, servers: Servers, model: str
) -> None:
    app = await open_app(database_url, servers)
    try:
        ids = await create_agents(app, [model] * 3)
        job = await drive(app, await start_job(app, ids))

        await assert_completed(app, job, ids, model)
        assert job["usage"]["model_calls"] == 6 and job["provider_batches"] == {"ingested": 2}
        batches = await provider_batch_rows(app, job["id"])
        assert sorted((b.provider, b.request_count) for b in batches) == [
            (provider_of(model), 3),
            (provider_of(model), 3),
        ]
        usage = (await assert_usage_stored(app, job))[model]
        billed = emulated_usage(servers, model, {b.external_id for b in batches})
        assert usage["input_tokens"] + usage["cache_read_tokens"] == billed["prompt"]
        assert usage["cache_read_tokens"] == billed["cached"]
        assert usage["output_tokens"] == billed["output"]
        cost = job["cost"]
        assert cost["usd"] > 0 and cost["unpriced_models"] == []
        assert cost["usd"] == pytest.approx(cost["live_usd"] / 2, abs=2e-6)
    finally:
        await app.close()


@pytest.mark.parametrize("model", ENGINES)
async def test_a_later_job_starts_the_script_again(
    ab: AgentBatch, servers: Servers, model: str
) -> None:
    """Steps count per run: the agent's second job begins at step 0 of the script, and
    ``{input}`` is that job's input, not a heartbeat or the first job's input."""
    [agent_id] = await create_agents(ab, [model])
    first = await drive(ab, await start_job(ab, [agent_id]))
    assert first["status"] == "completed"
    created = await ab.jobs.create_job(
        ab.org_id, {"requests": [{"agent_id": agent_id, "messages": "oolong"}], "max_steps": 4}
    )
    second = await drive(ab, str(created["id"]))
    assert second["status"] == "completed" and second["usage"]["model_calls"] == 2
    msgs = await history(ab, second["id"], agent_id)
    assert kinds(msgs) == HISTORY
    [edit] = msgs[1]["tool_calls"]
    assert json.loads(edit["arguments"])["content"] == "likes oolong"
    agent = await ab.agents.get_agent(ab.org_id, agent_id)
    assert agent["blocks"][0]["value"].splitlines() == ["likes fact-0", "likes oolong"]


@pytest.mark.parametrize("model", ENGINES)
async def test_429_and_500_on_create_are_retried(
    ab: AgentBatch, servers: Servers, model: str
) -> None:
    servers.faults(model).http += [
        HttpFault(429, method="POST", path_contains="atch", times=1, retry_after=0.05),
        HttpFault(500, method="POST", path_contains="atch", times=1),
    ]
    ids = await create_agents(ab, [model] * 2)
    job = await drive(ab, await start_job(ab, ids))

    await assert_completed(ab, job, ids, model)
    assert all(f.times == 0 for f in servers.faults(model).http)  # both faults were met
    assert job["provider_batches"] == {"ingested": 2}  # the refused creates made nothing
    assert {(r.attempt, r.outcome) for r in await item_rows(ab, job["id"])} == {(1, "succeeded")}


@pytest.mark.parametrize("model", ENGINES)
async def test_errored_and_expired_items_are_retried(
    ab: AgentBatch, servers: Servers, model: str
) -> None:
    servers.faults(model).content_outcomes += [
        ContentFault("fact-1", "errored"),
        ContentFault("fact-2", "expired"),
    ]
    ids = await create_agents(ab, [model] * 3)
    job = await drive(ab, await start_job(ab, ids, max_attempts=2))

    await assert_completed(ab, job, ids, model)
    rows = await item_rows(ab, job["id"])
    runs = {r["agent_id"]: r["id"] for r in await ab.jobs.job_runs(None, job["id"])}
    firsts = [
        sorted((r.step, r.attempt, r.outcome) for r in rows if r.run_id == runs[a])[0] for a in ids
    ]
    assert firsts[0] == (0, 1, "succeeded")
    assert firsts[1] == (0, 1, "errored")
    # an item that never ran: expired where the engine says so (Gemini, Mistral and OpenAI
    # report it; any engine may leave it without a line, which the runtime settles as errored)
    assert firsts[2][:2] == (0, 1) and firsts[2][2] in ("expired", "errored")
    assert job["usage"]["model_calls"] == 6


@pytest.mark.parametrize("model", ENGINES)
async def test_a_batch_that_expires_half_done(ab: AgentBatch, servers: Servers, model: str) -> None:
    servers.faults(model).polls_in_progress = 1
    ids = await create_agents(ab, [model] * 4)
    job_id = await start_job(ab, ids)
    worker = ab.worker()
    for _ in range(10):  # until the first poll has the emulator answer half the requests
        await worker.tick()
        rows = await provider_batch_rows(ab, job_id)
        if rows and servers.answered(model, rows[0].external_id) > 0:
            break
    [batch] = await provider_batch_rows(ab, job_id)
    assert servers.answered(model, batch.external_id) == 2
    servers.faults(model).polls_in_progress = 0
    servers.expire(model, batch.external_id)
    job = await drive(ab, job_id)

    await assert_completed(ab, job, ids, model)
    step0 = [r for r in await item_rows(ab, job_id) if r.provider_batch_id == batch.id]
    outcomes = Counter(r.outcome for r in step0)
    assert outcomes["succeeded"] == 2  # what finished before the expiry is kept
    assert outcomes["expired"] + outcomes["errored"] == 2  # the rest went out again
    assert job["usage"]["model_calls"] == 8


@pytest.mark.parametrize("model", ENGINES)
async def test_cancel_while_a_batch_is_in_flight(
    ab: AgentBatch, servers: Servers, model: str
) -> None:
    ids = await create_agents(ab, [model] * 2)
    job_id = await start_job(ab, ids)
    worker = ab.worker()
    for _ in range(20):
        await worker.tick()
        if all(r["step"] == 1 for r in await ab.jobs.job_runs(None, job_id)):
            break
    servers.faults(model).polls_in_progress = 100
    await worker.tick()
    await worker.tick()

    cancelled = await ab.jobs.cancel_job(ab.org_id, job_id)
    assert cancelled["status"] == "cancelled" and cancelled["runs"]["cancelled"] == 2
    for _ in range(3):
        await worker.tick()
    job = await ab.jobs.get_job(None, job_id)
    assert job["status"] == "cancelled" and job["usage"]["model_calls"] == 2
    for i, agent_id in enumerate(ids):
        assert kinds(await history(ab, job_id, agent_id)) == HISTORY[:4]
        agent = await ab.agents.get_agent(ab.org_id, agent_id)
        assert agent["blocks"][0]["value"] == f"likes fact-{i}"  # the edit applied once


async def test_one_job_mixes_every_engine(ab: AgentBatch, servers: Servers) -> None:
    models = [
        "anthropic/claude-sonnet-4-5",
        "openai/gpt-4.1-mini",
        RESPONSES,
        GEMINI,
        MISTRAL,
        ROUTER,
        "local/smollm2",
    ]
    ids = await create_agents(ab, models)
    job = await drive(ab, await start_job(ab, ids))

    assert job["status"] == "completed" and job["runs"]["completed"] == len(models)
    for i, (agent_id, model) in enumerate(zip(ids, models, strict=True)):
        reply = not model.startswith(("google/", "mistral/", "openrouter/"))
        await assert_agent_history(
            ab, job["id"], agent_id, f"fact-{i}", provider_of(model), agent_reply=reply
        )
    batches = await provider_batch_rows(ab, job["id"])
    assert Counter((b.provider, b.model) for b in batches) == {
        (provider_of(m), m): 2 for m in models if m != RESPONSES
    } | {("openai", RESPONSES): 2}
    # each agent's requests reached its own engine
    with servers.openai.state.lock:
        endpoints = Counter(
            b.endpoint
            for b in servers.openai.state.batches.values()
            if b.id in {h for x in batches for h in (x.external_id or "").split("+")}
        )
    assert endpoints == {"/v1/chat/completions": 2, "/v1/responses": 2}
    handles = {b.external_id for b in batches}
    assert len(handles & set(servers.google.state.jobs)) == 2
    assert len(handles & set(servers.mistral.jobs)) == 2
    assert len(handles & set(servers.openrouter.deleted)) == 2  # deleted once ingested
    assert len(handles & set(servers.anthropic.batches)) == 2


async def test_a_configured_openai_format_service(
    tmp_path: Path, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AGENTBATCH_PROVIDERS`` adds a prefix with its own base URL, key variable, limits
    and prices; its agents run through the OpenAI adapter and are priced from the file."""
    toml = tmp_path / "providers.toml"
    toml.write_text(
        f"""
[providers.acme]
base_url = "{servers.urls["openai"]}/v1"
api_key_env = "ACME_KEY"
max_requests = 2

[providers.acme.models."llama-70b"]
input = 1.0
output = 2.0
context_window = 8192
"""
    )
    monkeypatch.setenv("AGENTBATCH_PROVIDERS", str(toml))
    monkeypatch.setenv("ACME_KEY", "k")
    from agentbatch.pricing import context_window

    assert context_window("acme/llama-70b") == 8192
    servers.reset()
    app = await AgentBatch.open(
        f"sqlite+aiosqlite:///{tmp_path / 'acme.db'}", settings=fast_settings(), upgrade=True
    )
    try:
        ids = await create_agents(app, ["acme/llama-70b"] * 3)
        job = await drive(app, await start_job(app, ids))
        await assert_completed(app, job, ids, "openai/x")
        batches = await provider_batch_rows(app, job["id"])
        assert sorted(b.request_count for b in batches) == [1, 1, 2, 2]  # max_requests = 2
        assert {b.provider for b in batches} == {"acme"}
        assert job["cost"]["usd"] > 0 and job["cost"]["unpriced_models"] == []
    finally:
        await app.close()
