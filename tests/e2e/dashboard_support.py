"""A job with completed and failed runs, created through the HTTP API (shared by the
dashboard's HTTP and browser tests)."""

from __future__ import annotations

import time
from typing import Any

import httpx

THREE_STEPS: list[dict[str, Any]] = [
    {
        "tool": "core_memory_append",
        "args": {"label": "human", "content": "likes {input}"},
        "heartbeat": True,
        "reasoning": "worth remembering",
    },
    {
        "tool": "core_memory_replace",
        "args": {"label": "human", "old_content": "likes", "new_content": "really likes"},
        "heartbeat": True,
    },
    {"tool": "send_message", "args": {"message": "Noted: {input}."}, "heartbeat": False},
]
ALWAYS_FAILS: list[dict[str, Any]] = [
    {"tool": "send_message", "args": {"message": "x"}, "fail": "always"}
]


def create_job(
    client: httpx.Client, *, ok: int, failing: int, polls: int = 0, prefix: str = "agent"
) -> tuple[str, list[str], list[str]]:
    """``ok`` agents that take three steps and ``failing`` ones whose every attempt errors;
    returns (job id, ok agent ids, failing agent ids)."""

    def agent(name: str, settings: dict[str, Any]) -> str:
        body = {
            "name": name,
            "model": "scripted/demo",
            "system": "You keep notes about the user.",
            "blocks": [{"label": "human", "value": "", "limit": 2000}],
            "tools": ["send_message", "core_memory_append", "core_memory_replace"],
            "model_settings": settings,
        }
        response = client.post("/v1/agents", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    good = [agent(f"{prefix}-{i}", {}) for i in range(ok)]
    bad = [agent(f"{prefix}-failing-{i}", {"script": ALWAYS_FAILS}) for i in range(failing)]
    response = client.post(
        "/v1/jobs",
        json={
            "requests": [{"agent_id": a, "messages": "green tea"} for a in good + bad],
            "max_steps": 3,
            "max_attempts": 2,
            "options": {"script": THREE_STEPS, "polls": polls},
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"]), good, bad


def wait_done(client: httpx.Client, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end in {timeout_s}s")
