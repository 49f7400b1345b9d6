"""The FastAPI app over the same store as the CLI and the Python API.

``create_app(ApiConfig(...))`` opens the store in the app's lifespan (and, with
``with_worker``, runs a worker as an asyncio task beside the server until shutdown). The
server is stateless otherwise: any number of them, and of ``agentbatch worker`` processes,
can share one PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from agentbatch import __version__
from agentbatch.api import letta, metrics_route
from agentbatch.api.dashboard import routes as dashboard
from agentbatch.api.deps import AuthMode
from agentbatch.api.docs import install_docs
from agentbatch.api.errors import install_error_handlers
from agentbatch.api.limits import DEFAULT_MAX_BODY_BYTES, BodySizeLimit
from agentbatch.api.models import Health
from agentbatch.api.routes import agent_edits, agent_files, agents, jobs, results, schedules, tools
from agentbatch.app import DEFAULT_ORG, AgentBatch
from agentbatch.config import RuntimeSettings
from agentbatch.observability import default_observer
from agentbatch.observability.settings import ObservabilitySettings
from agentbatch.providers.registry import ProviderRegistry

log = logging.getLogger(__name__)

DESCRIPTION = """Run many stateful, tool-using LLM agents through providers' batch APIs.

Authenticate with `Authorization: Bearer <API key>` (`agentbatch keys create --org NAME`).
Each key belongs to one organisation and sees only that organisation's agents, blocks, tools
and jobs; anything else is 404. Errors always have the shape
`{"error": {"code": ..., "message": ..., "details": ...}}`."""


@dataclass
class ApiConfig:
    database_url: str | None = None  # default: AGENTBATCH_DATABASE_URL, else the SQLite file
    auth: bool = True  # False: every request acts as ``default_org`` (local use only)
    default_org: str = DEFAULT_ORG
    with_worker: bool = False  # run a worker in this process
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    upgrade: bool | None = None  # migrate on start (None: SQLite yes, PostgreSQL no)
    settings: RuntimeSettings | None = None
    registry: ProviderRegistry | None = None
    worker_stop_timeout_s: float = 30.0


async def _open(config: ApiConfig) -> AgentBatch:
    kwargs: dict[str, Any] = {"org_id": config.default_org}
    if config.settings is not None:
        kwargs["settings"] = config.settings
    if config.registry is not None:
        kwargs["registry"] = config.registry
    return await AgentBatch.open(config.database_url, upgrade=config.upgrade, **kwargs)


def create_app(config: ApiConfig | None = None, *, batch: AgentBatch | None = None) -> FastAPI:
    """The HTTP API. Pass ``batch`` to serve an already open store (the caller closes it)."""
    config = config or ApiConfig()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = batch or await _open(config)
        store.serve_http()
        if config.auth:  # several organisations: custom tools need real isolation
            store.require_isolation()
        app.state.batch = store
        task: asyncio.Task[None] | None = None
        worker = None
        if config.with_worker:
            worker = store.worker()
            task = asyncio.create_task(worker.run(), name="agentbatch-worker")
        log.info(
            "API ready (auth %s, worker %s)",
            "on" if config.auth else "off",
            "in process" if worker else "separate",
        )
        try:
            yield
        finally:
            if worker is not None and task is not None:
                worker.stop()
                try:
                    await asyncio.wait_for(task, timeout=config.worker_stop_timeout_s)
                except TimeoutError:
                    log.warning("the in-process worker did not stop in time; cancelled it")
            app.state.batch = None
            default_observer().flush()
            if batch is None:
                await store.close()

    app = FastAPI(
        title="agentbatch",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from a package by install_docs, not from a CDN
        redoc_url=None,
    )
    app.state.auth = AuthMode(enabled=config.auth, default_org=config.default_org)
    app.state.batch = None
    install_error_handlers(app)
    install_docs(app)
    app.add_middleware(BodySizeLimit, max_bytes=config.max_body_bytes)
    for module in (agent_files, agents, agent_edits, tools, jobs, results, schedules):
        app.include_router(module.router)
    letta.install(app)
    app.state.observability = (
        config.settings.observability if config.settings else ObservabilitySettings.from_env()
    )
    app.include_router(metrics_route.router)
    dashboard.mount(app)

    @app.get("/v1/health", response_model=Health, tags=["meta"])
    async def health() -> dict[str, Any]:
        """Liveness (no key needed)."""
        return {"status": "ok", "version": __version__, "auth": config.auth}

    return app
