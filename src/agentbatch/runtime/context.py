"""What every runtime pass needs: store, providers, settings, clock, sleep, identity."""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agentbatch.config import RuntimeSettings
from agentbatch.ids import Clock, utcnow
from agentbatch.memory_settings import MemorySettings
from agentbatch.observability import Observer, default_observer
from agentbatch.providers.registry import ProviderRegistry
from agentbatch.runtime.agent_cache import AgentCache, JobCache, ToolCache
from agentbatch.runtime.context_cache import ContextCache
from agentbatch.runtime.limits import Limits
from agentbatch.runtime.metrics import Metrics
from agentbatch.runtime.tool_exec import ToolExecutor
from agentbatch.store.db import Database

Sleep = Callable[[float], Awaitable[None]]
Hook = Callable[..., Awaitable[None]]


class Hooks:
    """Named points in the runtime where tests inject behaviour (pause a worker, cancel a
    job, crash) to drive races deterministically. Points: ``claimed`` (runs leased, not yet
    recorded), ``recorded`` (a batch recorded, before the provider call), ``created`` (the
    provider returned a handle, before it is recorded), ``ingested_chunk`` (a chunk of
    results committed), ``tools`` (out-of-transaction tools about to run)."""

    def __init__(self) -> None:
        self._hooks: dict[str, list[Hook]] = {}

    def on(self, point: str, hook: Hook) -> None:
        self._hooks.setdefault(point, []).append(hook)

    async def fire(self, point: str, **info: object) -> None:
        for hook in self._hooks.get(point, ()):
            await hook(**info)


def default_owner() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{os.urandom(3).hex()}"


@dataclass
class RuntimeContext:
    db: Database
    registry: ProviderRegistry
    settings: RuntimeSettings = field(default_factory=RuntimeSettings.from_env)
    clock: Clock = utcnow
    sleep: Sleep = asyncio.sleep
    lease_sleep: Sleep = asyncio.sleep  # between lease renewals (see runtime.leases)
    hooks: Hooks = field(default_factory=Hooks)
    rng: random.Random = field(default_factory=random.Random)
    owner: str = field(default_factory=default_owner)
    tools: ToolExecutor = field(default_factory=ToolExecutor)
    metrics: Metrics = field(default_factory=Metrics)
    agents: AgentCache = field(default_factory=AgentCache)
    contexts: ContextCache = field(default_factory=ContextCache)
    jobs: JobCache = field(default_factory=JobCache)
    custom_tools: ToolCache = field(default_factory=ToolCache)
    observe: Observer = field(default_factory=default_observer)  # metrics, traces (observability/)
    limits: Limits = field(default_factory=Limits)  # deadlines, live calls, budgets

    @property
    def memory(self) -> MemorySettings:
        """Context-window management and archival memory (part of ``settings``)."""
        return self.settings.memory

    def lease_until(self, now: datetime | None = None) -> datetime:
        return (now or self.clock()) + timedelta(seconds=self.settings.lease_s)

    @property
    def skip_locked(self) -> bool:
        return not self.db.is_sqlite


def poll_delay(ctx: RuntimeContext, provider: object) -> float:
    """First poll delay: the configured interval, capped by a provider's own hint (local and
    scripted batches finish in moments; a provider batch API takes minutes)."""
    hint = getattr(provider, "poll_interval_s", None)
    base = ctx.settings.poll_interval_s
    return base if hint is None else min(base, float(hint))
