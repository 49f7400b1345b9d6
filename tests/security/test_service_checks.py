"""Every HTTP path that sets an agent's model or creates a custom tool applies the same
checks: the scripted test model, custom tools without bubblewrap, and the operator's tool
limits hold for ``/v1/agents``, ``PATCH /v1/agents/{id}``, the Letta-compatible routes and
Agent File import alike (the checks live in the services, ``services/policy.py``)."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentbatch.api import ApiConfig, create_app
from agentbatch.app import AgentBatch
from agentbatch.keys import create_key
from tests.conftest import fast_settings
from tests.letta_files import agent_file

Call = Callable[..., Coroutine[Any, Any, httpx.Response]]
REAL = "anthropic/claude-sonnet-4-5"
TOOL = 'def probe(x: int) -> int:\n    """Probe."""\n    return x\n'


@contextlib.asynccontextmanager
async def _client(home: Path) -> AsyncIterator[Call]:
    """An authenticated client on a fresh app (reads the environment when it starts)."""
    url = f"sqlite+aiosqlite:///{home / 'api.db'}"
    store = await AgentBatch.open(url, upgrade=True)
    key = (await create_key(store.db, "tenant", "test")).secret
    await store.close()
    app = create_app(ApiConfig(database_url=url, settings=fast_settings(), upgrade=True))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://api",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        ) as client,
    ):

        async def call(method: str, path: str, body: Any = None) -> httpx.Response:
            content = None if body is None else json.dumps(body)
            return await client.request(method, path, content=content)

        yield call


def _without_custom_tools(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["tools"] = [t for t in doc["tools"] if t["tool_type"] != "custom"]
    kept = {t["id"] for t in doc["tools"]}
    for agent in doc["agents"]:
        agent["tool_ids"] = [t for t in agent["tool_ids"] if t in kept]
        agent["tool_rules"] = [r for r in agent["tool_rules"] if r["tool_name"] == "send_message"]
    return doc


def _with_tool_settings(**settings: Any) -> dict[str, Any]:
    """The Agent File with its custom tools asking for ``settings`` (Letta's
    ``pip_requirements``; agentbatch's own limits in ``metadata_``)."""
    doc = agent_file(REAL)
    for agent in doc["agents"]:
        agent["llm_config"]["handle"] = REAL
    for tool in doc["tools"]:
        if tool["tool_type"] != "custom":
            continue
        if "requirements" in settings:
            tool["pip_requirements"] = [
                {"name": r, "version": None} for r in settings["requirements"]
            ]
        limits = {k: v for k, v in settings.items() if k in ("timeout_s", "memory_mb")}
        tool["metadata_"] = {"agentbatch": limits}
    return doc


async def _agent_models(call: Call) -> list[str]:
    return [a["model"] for a in (await call("GET", "/v1/agents")).json()["data"]]


async def test_scripted_model_is_refused_on_every_path(
    monkeypatch: pytest.MonkeyPatch, _home: Path
) -> None:
    monkeypatch.setenv("AGENTBATCH_ALLOW_SCRIPTED", "0")
    scripted_file = _without_custom_tools(agent_file("openai/gpt-4.1-mini"))
    for agent in scripted_file["agents"]:
        agent["llm_config"]["handle"] = "scripted/x"
    async with _client(_home) as call:
        real = await call("POST", "/v1/agents", {"name": "real", "model": REAL})
        agent_id = real.json()["id"]
        refused = {
            "letta create": await call(
                "POST", "/letta/v1/agents/", {"name": "l", "model": "scripted/x"}
            ),
            "update": await call("PATCH", f"/v1/agents/{agent_id}", {"model": "scripted/x"}),
            "import": await call("POST", "/v1/agents/import", scripted_file),
            "import --model": await call(
                "POST",
                "/v1/agents/import?model=scripted/x",
                _without_custom_tools(agent_file(REAL)),
            ),
        }
        models = await _agent_models(call)
        jobs = (await call("GET", "/v1/jobs")).json()["data"]

    assert real.status_code == 201, real.text
    for path, response in refused.items():
        assert response.status_code == 422, (path, response.text)
        assert "AGENTBATCH_ALLOW_SCRIPTED" in response.json()["error"]["message"], path
    assert models == [REAL] and jobs == []  # nothing imported, the agent unchanged


async def test_import_without_bubblewrap_creates_no_custom_tool(
    monkeypatch: pytest.MonkeyPatch, _home: Path
) -> None:
    monkeypatch.setenv("AGENTBATCH_BWRAP", str(_home / "no-such-bwrap"))
    async with _client(_home) as call:
        imported = await call("POST", "/v1/agents/import", _with_tool_settings())
        letta_tool = await call("POST", "/letta/v1/tools/", {"source_code": TOOL})
        tools = (await call("GET", "/v1/tools")).json()["data"]
        models = await _agent_models(call)
        without_tools = await call(
            "POST", "/v1/agents/import", _without_custom_tools(agent_file(REAL))
        )

    for response in (imported, letta_tool):
        assert response.status_code == 403, response.text
        assert "bubblewrap" in response.json()["error"]["message"]
    assert [t["name"] for t in tools if t["id"] is not None] == [] and models == []
    assert without_tools.status_code == 201, without_tools.text  # built-ins only: fine


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"requirements": ["./localpath"]}, "invalid requirement './localpath'"),
        ({"requirements": ["/tmp/evil"]}, "invalid requirement '/tmp/evil'"),
        ({"requirements": ["evil-1.0.tar.gz"]}, "names an archive file"),
        ({"timeout_s": 3600}, "timeout_s: at most 60 s"),
        ({"memory_mb": 65536}, "memory_mb: at most 512 MB"),
        ({"timeout_s": 10**6}, "timeout_s"),
    ],
)
async def test_imported_tools_meet_the_operator_limits(
    monkeypatch: pytest.MonkeyPatch, _home: Path, settings: dict[str, Any], expected: str
) -> None:
    monkeypatch.setenv("AGENTBATCH_ALLOW_UNSAFE_TOOLS", "1")  # judged on the limits alone
    monkeypatch.setenv("AGENTBATCH_TOOL_MAX_TIMEOUT", "60")
    monkeypatch.setenv("AGENTBATCH_TOOL_MAX_MEMORY_MB", "512")
    async with _client(_home) as call:
        refused = await call("POST", "/v1/agents/import", _with_tool_settings(**settings))
        tools = (await call("GET", "/v1/tools")).json()["data"]
        fine = await call(
            "POST",
            "/v1/agents/import",
            _with_tool_settings(requirements=["regex==2024.11.6"], timeout_s=60, memory_mb=512),
        )

    assert refused.status_code == 422, refused.text
    message = refused.json()["error"]["message"]
    assert message.startswith("tool 'word_count': ") and expected in message, message
    assert [t["name"] for t in tools if t["id"] is not None] == []
    assert fine.status_code == 201, fine.text
