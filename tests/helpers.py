"""Small builders shared by integration tests."""

from __future__ import annotations

import json
from typing import Any

from agentbatch.app import AgentBatch


async def make_agents(app: AgentBatch, n: int, **spec: Any) -> list[str]:
    ids = []
    for i in range(n):
        body = {"name": f"agent-{i}", "model": "scripted/test", **spec}
        ids.append((await app.agents.create_agent(app.org_id, body))["id"])
    return ids


async def run_job(
    app: AgentBatch,
    agent_ids: list[str],
    *,
    script: list[dict[str, Any]] | None = None,
    messages: Any = "hello",
    timeout_s: float = 60,
    **job: Any,
) -> dict[str, Any]:
    options = dict(job.pop("options", {}))
    if script is not None:
        options["script"] = script
    created = await app.jobs.create_job(
        app.org_id,
        {
            "requests": [{"agent_id": a, "messages": messages} for a in agent_ids],
            "options": options,
            **job,
        },
    )
    return await app.run_job(created["id"], timeout_s=timeout_s)


async def history(app: AgentBatch, job_id: str, agent_id: str) -> list[dict[str, Any]]:
    return await app.jobs.job_messages(None, job_id, agent_id=agent_id, limit=1000)


def tool_status(message: dict[str, Any]) -> str:
    return str(json.loads(message["content"])["status"])


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    return [m["kind"] for m in messages]
