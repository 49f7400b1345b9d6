"""The Python API: every operation in-process and async, for notebooks and scripts.

async with await AgentBatch.open() as ab:
    agent = await ab.agents.create_agent(ab.org_id, {"name": "a", "model": "scripted/x"})
    job = await ab.jobs.create_job(ab.org_id, {"requests": [...]})
    await ab.run_job(job["id"])
"""

from __future__ import annotations

import dataclasses
import logging
from types import TracebackType
from typing import Any

from sqlalchemy import insert, select

from agentbatch.config import RuntimeSettings, default_database_url
from agentbatch.errors import ConfigError
from agentbatch.ids import Clock, utcnow
from agentbatch.providers.registry import ProviderRegistry
from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.tool_exec import ToolExecutor
from agentbatch.runtime.worker import JobHook, Worker
from agentbatch.security_settings import SecuritySettings
from agentbatch.services.agent_files import AgentFileService
from agentbatch.services.agent_updates import AgentEditService
from agentbatch.services.agents import AgentService
from agentbatch.services.estimates import EstimateService
from agentbatch.services.jobs import JobService
from agentbatch.services.policy import TenantPolicy
from agentbatch.services.preflight import preflight
from agentbatch.services.results import ResultService
from agentbatch.services.schedules import ScheduleService
from agentbatch.services.selectors import SelectorService
from agentbatch.services.tools import ToolService
from agentbatch.store import migrate
from agentbatch.store.db import Database
from agentbatch.store.tables import organizations

log = logging.getLogger(__name__)

DEFAULT_ORG = "default"


async def ensure_schema(db: Database, *, upgrade: bool) -> None:
    current = await migrate.current_revision(db)
    head = migrate.head_revision()
    if current == head:
        return
    if upgrade:
        log.info("upgrading database schema %s -> %s", current, head)
        await migrate.upgrade(db)
        return
    if current is None:
        raise ConfigError(
            "this database has no agentbatch tables yet: run `agentbatch db upgrade` "
            "(with the same --database-url or AGENTBATCH_DATABASE_URL) to create them"
        )
    raise ConfigError(
        f"this database's schema is at revision {current}, and this agentbatch needs {head}: "
        "run `agentbatch db upgrade` (with the same --database-url or AGENTBATCH_DATABASE_URL)"
    )


async def ensure_org(
    db: Database, org_id: str, name: str | None = None, clock: Clock = utcnow
) -> None:
    async with db.write() as conn:
        found = (
            await conn.execute(select(organizations.c.id).where(organizations.c.id == org_id))
        ).first()
        if found is None:
            await conn.execute(
                insert(organizations).values(id=org_id, name=name or org_id, created_at=clock())
            )


class AgentBatch:
    def __init__(
        self,
        db: Database,
        *,
        registry: ProviderRegistry | None = None,
        settings: RuntimeSettings | None = None,
        org_id: str = DEFAULT_ORG,
        clock: Clock = utcnow,
        tools: ToolExecutor | None = None,
        security: SecuritySettings | None = None,
    ) -> None:
        self.db = db
        settings = settings or RuntimeSettings.from_env()  # the one read of the environment
        if security is not None:
            settings = dataclasses.replace(settings, security=security)
        self.settings = settings
        self.security = settings.security
        self.registry = registry or ProviderRegistry(engines=settings.engines)
        self.org_id = org_id
        self.clock = clock
        self.tool_executor = tools or ToolExecutor(
            size=self.settings.tool_concurrency, security=self.security
        )
        # what tenants may ask for, checked by every service (services/policy.py)
        self.policy = TenantPolicy(self.security)
        self.agents = AgentService(db, clock, self.policy)
        self.agent_files = AgentFileService(db, clock, self.policy)
        self.agent_edits = AgentEditService(db, self.agents, clock)
        self.tools = ToolService(db, clock, self.policy)
        self.jobs = JobService(
            db,
            self.registry,
            max_attempts=self.settings.max_attempts,
            clock=clock,
            callback_policy=self.security.callback_policy(),
        )
        self.results = ResultService(db, self.jobs.prices)
        self.estimates = EstimateService(
            db, self.runtime, self.jobs.prices, check_job=self.jobs.job_values
        )
        self.selectors = SelectorService(db, clock)
        self.schedules = ScheduleService(
            db,
            max_attempts=self.settings.max_attempts,
            clock=clock,
            callback_policy=self.security.callback_policy(),
        )

    def require_isolation(self) -> None:
        """Serve several organisations: custom tools need bubblewrap (or the operator's
        ``AGENTBATCH_ALLOW_UNSAFE_TOOLS=1``) to be registered and to run."""
        self.tool_executor.require_isolation = True
        self.policy.isolation_problem = self.tool_executor.isolation_problem

    def serve_http(self) -> None:
        """The HTTP API's rules: the ``scripted/`` test model only where the operator
        allows it (``AGENTBATCH_ALLOW_SCRIPTED=1``); the CLI and Python API always may."""
        self.policy.scripted = self.security.allow_scripted

    @classmethod
    async def open(
        cls,
        database_url: str | None = None,
        *,
        upgrade: bool | None = None,
        **kwargs: Any,
    ) -> AgentBatch:
        """Open the store; the SQLite default is migrated automatically, PostgreSQL is
        checked (``agentbatch db upgrade`` migrates it) unless ``upgrade=True``."""
        db = Database(database_url or default_database_url())
        try:
            await ensure_schema(db, upgrade=db.is_sqlite if upgrade is None else upgrade)
            self = cls(db, **kwargs)
            await ensure_org(db, self.org_id, clock=self.clock)
        except BaseException:
            await db.dispose()
            raise
        return self

    def runtime(self, **overrides: Any) -> RuntimeContext:
        fields: dict[str, Any] = {
            "db": self.db,
            "registry": self.registry,
            "settings": self.settings,
            "clock": self.clock,
            "tools": self.tool_executor,
        }
        fields.update(overrides)
        return RuntimeContext(**fields)

    def worker(self, on_finished: JobHook | None = None, **overrides: Any) -> Worker:
        return Worker(self.runtime(**overrides), on_finished=on_finished)

    async def run_job(self, job_id: str, *, timeout_s: float | None = None) -> dict[str, Any]:
        """Run a worker in-process until the job ends; returns the job."""
        await self.worker().run_until(job_id, timeout_s=timeout_s)
        return await self.jobs.get_job(None, job_id)

    async def preflight(self, models: Any, *, probe: bool = True) -> dict[str, list[str]]:
        """Check that every provider these model handles use is configured (and, with
        ``probe``, reachable); raises ``PreflightError`` listing every problem."""
        return await preflight(self.registry, models, probe=probe)

    async def close(self) -> None:
        await self.tool_executor.aclose()
        await self.registry.aclose()
        await self.db.dispose()

    async def __aenter__(self) -> AgentBatch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
