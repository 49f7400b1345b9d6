"""Letta-compatible endpoints, served beside our own API.

Letta's batch endpoints (``/v1/messages/batches...``) do not collide with ours and are
served both at ``/v1`` and under ``/letta/v1``. Letta's agent, block and tool endpoints
share paths with ours but not shapes (``POST /v1/agents`` takes our ``AgentCreate``), so
they live only under ``/letta/v1``: point a Letta client at ``<server>/letta``."""

from __future__ import annotations

from fastapi import FastAPI

from agentbatch.api.letta import agents, batches

LETTA_PREFIX = "/letta"


def install(app: FastAPI) -> None:
    app.include_router(batches.router, prefix="/v1")
    app.include_router(batches.router, prefix=f"{LETTA_PREFIX}/v1")
    app.include_router(agents.router, prefix=f"{LETTA_PREFIX}/v1")
