"""Errors a caller can act on: 401 without a valid key, 413 over the body limit, 422 for bad
input, 404/405 for wrong routes, always as ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentbatch.api.server import ThreadedServer
from agentbatch.app import AgentBatch
from agentbatch.keys import revoke_key
from tests.e2e.http_support import mint_keys, serve


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[ThreadedServer, str, str]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    (key,) = mint_keys(url, "acme")
    with serve(url, with_worker=False, max_body_bytes=64 * 1024) as server:
        yield server, key, url


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return dict(body["error"])


def test_keys_are_required_and_checked(api: tuple[ThreadedServer, str, str]) -> None:
    server, key, url = api
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/v1/health").status_code == 200
        missing = http.get("/v1/agents")
        error_of(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"] == "Bearer"
        for header in ("Bearer abk_not-a-real-key", "Bearer nope", "Basic dXNlcjpwYXNz", key):
            error_of(http.get("/v1/agents", headers={"Authorization": header}), 401, "unauthorized")
        ok = http.get("/v1/agents", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200

        async def revoke() -> None:
            ab = await AgentBatch.open(url)
            try:
                await revoke_key(ab.db, key[:12])
            finally:
                await ab.close()

        asyncio.run(revoke())
        revoked = http.get("/v1/agents", headers={"Authorization": f"Bearer {key}"})
        assert error_of(revoked, 401, "unauthorized")["message"] == "invalid or revoked API key"


def test_bad_requests_get_clear_4xx(api: tuple[ThreadedServer, str, str]) -> None:
    server, key, _ = api
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.url, headers=auth) as http:
        invalid = error_of(
            http.post("/v1/agents", json={"model": "no-slash"}), 422, "invalid_input"
        )
        locs = {tuple(d["loc"]) for d in invalid["details"]}
        assert ("body", "name") in locs and ("body", "model") in locs
        assert "name is required" in invalid["message"] and "Value error" not in invalid["message"]
        letta = error_of(
            http.post("/v1/agents", json={"name": "a", "memory_blocks": []}), 422, "invalid_input"
        )
        assert "unknown field 'memory_blocks' (agentbatch calls this blocks)" in letta["message"]
        typo = error_of(http.post("/v1/blocks", json={"lable": "x"}), 422, "invalid_input")
        assert "did you mean 'label'?" in typo["message"]
        bad_status = error_of(http.get("/v1/jobs", params={"status": "done"}), 422, "invalid_input")
        assert "'created', 'running', 'completed', 'failed' or 'cancelled'" in bad_status["message"]

        not_json = http.post(
            "/v1/jobs", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        error_of(not_json, 422, "invalid_input")
        error_of(http.post("/v1/jobs", json={"requests": []}), 422, "invalid_input")
        bad_messages = {"requests": [{"agent_id": "agent-x", "messages": [{"role": "system"}]}]}
        error_of(http.post("/v1/jobs", json=bad_messages), 422, "invalid_input")
        error_of(http.get("/v1/jobs", params={"limit": 0}), 422, "invalid_input")
        error_of(http.get("/v1/jobs/job-x/messages", params={"cursor": "x"}), 422, "invalid_input")
        error_of(http.get("/v1/nowhere"), 404, "not_found")
        error_of(http.put("/v1/agents"), 405, "method_not_allowed")
        error_of(http.get("/v1/agents/agent-missing"), 404, "not_found")
        # a trailing newline must not fall through to the list route (a regex "$" matches it)
        for path in ("/letta/v1/agents/%0A", "/letta/v1/blocks/%0A", "/v1/agents/%0A"):
            error_of(http.get(path), 404, "not_found")


def test_bodies_over_the_limit_get_413(api: tuple[ThreadedServer, str, str]) -> None:
    server, key, _ = api
    auth = {"Authorization": f"Bearer {key}"}
    big = json.dumps({"name": "x" * 70_000}).encode()
    with httpx.Client(base_url=server.url, headers=auth) as http:
        declared = http.post(
            "/v1/agents", content=big, headers={"Content-Type": "application/json"}
        )
        assert "65536 bytes" in error_of(declared, 413, "payload_too_large")["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for start in range(0, len(big), 8192):
                yield big[start : start + 8192]

        streamed = http.post(
            "/v1/agents", content=chunks(), headers={"Content-Type": "application/json"}
        )
        error_of(streamed, 413, "payload_too_large")
        small = http.post("/v1/agents", json={"name": "fits", "model": "scripted/x"})
        assert small.status_code == 201


def test_model_settings_are_checked_at_create_and_update(
    api: tuple[ThreadedServer, str, str],
) -> None:
    server, key, _ = api
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.url, headers=auth) as http:
        bad = {"name": "s", "model_settings": {"max_tokens": "abc"}}
        message = error_of(http.post("/v1/agents", json=bad), 422, "invalid_input")["message"]
        assert message.startswith("model_settings.max_tokens must be a whole number")
        typo = {"name": "s", "model_settings": {"max_token": 100}}
        message = error_of(http.post("/v1/agents", json=typo), 422, "invalid_input")["message"]
        assert "unknown setting 'max_token' (did you mean 'max_tokens'?" in message
        hot = {"name": "s", "model_settings": {"temperature": 7}}
        error_of(http.post("/v1/agents", json=hot), 422, "invalid_input")
        endpoint = {"name": "s", "model": "anthropic/x", "model_settings": {"endpoint": "chat"}}
        message = error_of(http.post("/v1/agents", json=endpoint), 422, "invalid_input")["message"]
        assert "endpoint is not available for anthropic/ models" in message

        ok = {"name": "s", "model": "openai/gpt-4.1", "model_settings": {"endpoint": "responses"}}
        created = http.post("/v1/agents", json=ok)
        assert created.status_code == 201, created.text
        agent_id = created.json()["id"]
        patch = {"model_settings": {"max_tokens": 0}}
        error_of(http.patch(f"/v1/agents/{agent_id}", json=patch), 422, "invalid_input")
        # a model that does not take the stored endpoint is refused too
        moved = http.patch(f"/v1/agents/{agent_id}", json={"model": "mistral/mistral-small"})
        assert "endpoint" in error_of(moved, 422, "invalid_input")["message"]
        agent = http.get(f"/v1/agents/{agent_id}").json()
        assert agent["model"] == "openai/gpt-4.1"
        assert agent["model_settings"] == {"endpoint": "responses"}
