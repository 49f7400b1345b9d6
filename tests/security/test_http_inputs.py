"""The authenticated HTTP API: out-of-range and oversized input answer 422 (never 500),
the scripted test model and custom tools need the operator's consent, and a tool may not
ask for more than the operator's limits."""

from __future__ import annotations

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

Post = Callable[[str, Any], Coroutine[Any, Any, httpx.Response]]
BIG = 2**64
TOOL = 'def probe(x: int) -> int:\n    """Probe."""\n    return x\n'


@pytest.fixture
async def post(_home: Path) -> AsyncIterator[Post]:
    """POST as an organisation with a valid key, to an app started in this event loop."""
    async with _client(_home) as send:
        yield send


@pytest.fixture
async def agent_id(post: Post) -> str:
    response = await post("/v1/agents", {"name": "a", "model": "scripted/x"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_integers_beyond_64_bits_answer_422(post: Post, agent_id: str) -> None:
    request = {"agent_id": agent_id, "messages": "hi"}
    cases = [
        ("/v1/agents", {"name": "m", "metadata": {"n": BIG}}, "metadata"),
        ("/v1/agents", {"name": "s", "model_settings": {"max_tokens": -BIG}}, "model_settings"),
        ("/v1/agents", {"name": "r", "tool_rules": [{"type": "x", "n": BIG}]}, "tool_rules"),
        ("/v1/jobs", {"requests": [request], "metadata": {"deep": [[{"n": BIG}]]}}, "metadata"),
        ("/v1/jobs", {"requests": [request], "options": {"seed": BIG}}, "options"),
        ("/v1/jobs", {"requests": [{"agent_id": agent_id, "messages": [BIG]}]}, "messages"),
        ("/v1/tools", {"source": TOOL, "parameters": {"type": "object", "maximum": BIG}}, "param"),
        ("/v1/tools", {"source": TOOL.replace("x: int", f"x: int = {BIG}")}, "parameters"),
    ]
    for path, body, field in cases:
        response = await post(path, body)
        assert response.status_code == 422, (body, response.text)
        message = response.json()["error"]["message"]
        assert field in message and "64-bit" in message, message


async def test_oversized_text_answers_422_naming_the_limit(post: Post, agent_id: str) -> None:
    cases = [
        ("/v1/agents", {"name": "n" * 201}, "at most 200 characters"),
        ("/v1/agents", {"name": "s", "system": "s" * 200_001}, "at most 200000 characters"),
        ("/v1/blocks", {"label": "b", "value": "v" * 1_000_001}, "at most 1000000 characters"),
        ("/v1/tools", {"source": "#" * 200_001}, "at most 200000 characters"),
        ("/v1/tools", {"source": TOOL, "env": {"K": "v" * 8193}}, "at most 8192 characters"),
        ("/v1/agents", {"name": "m", "metadata": {"k": "v" * 20_000}}, "the limit is 16384"),
        (
            "/v1/jobs",
            {
                "requests": [{"agent_id": agent_id, "messages": "x"}],
                "callback_url": "https://example.com/" + "p" * 2100,
            },
            "at most 2048 characters",
        ),
    ]
    for path, body, expected in cases:
        response = await post(path, body)
        assert response.status_code == 422, response.text
        assert expected in response.json()["error"]["message"]


async def test_scripted_model_needs_the_operator(
    monkeypatch: pytest.MonkeyPatch, _home: Path
) -> None:
    monkeypatch.setenv("AGENTBATCH_ALLOW_SCRIPTED", "0")
    async with _client(_home) as send:
        refused = await send("/v1/agents", {"name": "a", "model": "scripted/x"})
        default = await send("/v1/agents", {"name": "b"})  # the default model is scripted/
        real = await send("/v1/agents", {"name": "c", "model": "anthropic/claude-sonnet-4-5"})

    assert refused.status_code == 422 and "AGENTBATCH_ALLOW_SCRIPTED" in refused.text
    assert default.status_code == 422
    assert real.status_code == 201, real.text


async def test_server_without_bubblewrap_refuses_custom_tools(
    monkeypatch: pytest.MonkeyPatch, _home: Path
) -> None:
    monkeypatch.setenv("AGENTBATCH_BWRAP", str(_home / "no-such-bwrap"))
    async with _client(_home) as send:
        refused = await send("/v1/tools", {"source": TOOL})
    monkeypatch.setenv("AGENTBATCH_ALLOW_UNSAFE_TOOLS", "1")
    async with _client(_home) as send:
        accepted = await send("/v1/tools", {"source": TOOL})

    assert refused.status_code == 403
    assert "bubblewrap" in refused.json()["error"]["message"]
    assert accepted.status_code == 201, accepted.text


async def test_worker_of_a_server_without_bubblewrap_does_not_run_tools(
    monkeypatch: pytest.MonkeyPatch, _home: Path
) -> None:
    from types import SimpleNamespace

    monkeypatch.setenv("AGENTBATCH_BWRAP", str(_home / "no-such-bwrap"))
    store = await AgentBatch.open(f"sqlite+aiosqlite:///{_home / 'w.db'}", upgrade=True)
    try:
        store.require_isolation()  # what `agentbatch worker` and the HTTP server do
        row = SimpleNamespace(org_id="o", name="probe", source=TOOL, settings={})
        result = await store.tool_executor.run_custom(row, "agent", {"x": 1}, {})
    finally:
        await store.close()

    assert not result.ok and "custom tools are disabled" in result.output
    assert store.tool_executor.pool is None  # no tool process was ever started


async def test_tool_limits_over_the_operator_maximum_answer_422(
    monkeypatch: pytest.MonkeyPatch, _home: Path
) -> None:
    monkeypatch.setenv("AGENTBATCH_TOOL_MAX_TIMEOUT", "60")
    monkeypatch.setenv("AGENTBATCH_TOOL_MAX_MEMORY_MB", "512")
    monkeypatch.setenv("AGENTBATCH_ALLOW_UNSAFE_TOOLS", "1")  # judged on limits alone
    async with _client(_home) as send:
        slow = await send("/v1/tools", {"source": TOOL, "timeout_s": 3600})
        big = await send("/v1/tools", {"source": TOOL, "memory_mb": 65536})
        fine = await send("/v1/tools", {"source": TOOL, "timeout_s": 60, "memory_mb": 512})

    assert slow.status_code == 422 and "at most 60 s" in slow.text
    assert big.status_code == 422 and "at most 512 MB" in big.text
    assert fine.status_code == 201, fine.text


def _client(home: Path) -> Any:
    """An authenticated client on a fresh app (reads the environment when it starts)."""
    import contextlib

    @contextlib.asynccontextmanager
    async def open_client() -> AsyncIterator[Post]:
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

            async def send(path: str, body: Any) -> httpx.Response:
                return await client.post(path, content=json.dumps(body))

            yield send

    return open_client()
