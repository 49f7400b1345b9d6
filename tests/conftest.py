"""Shared fixtures: every integration test runs on SQLite and on PostgreSQL.

PostgreSQL comes from AGENTBATCH_TEST_POSTGRES_URL (default: the local server at
127.0.0.1:5432); each test session creates its own database and drops it at the end.
When the server is unreachable the PostgreSQL variants skip with the reason shown."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentbatch.app import AgentBatch
from agentbatch.config import RuntimeSettings
from agentbatch.providers.registry import ProviderRegistry
from agentbatch.providers.scripted import ScriptedProvider
from agentbatch.testing.recording import RecordingProvider

PG_BASE = os.environ.get(
    "AGENTBATCH_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


def fast_settings(**overrides: Any) -> RuntimeSettings:
    values: dict[str, Any] = {
        "send_delay_s": 0.0,
        "poll_interval_s": 0.0,
        "idle_sleep_s": 0.01,
        "retry_backoff_s": 0.0,
        "provider_backoff_s": 0.0,
        "chunk_size": 100,
        "lease_s": 60.0,
    }
    values.update(overrides)
    # the environment's security and engine settings (AGENTBATCH_ALLOW_SCRIPTED, …), the
    # fast pacing above
    return dataclasses.replace(RuntimeSettings.from_env(), **values)


async def _pg_admin(sql: str) -> None:
    import asyncpg

    dsn = PG_BASE.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"agentbatch_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable server: skip, visibly
        pytest.skip(f"PostgreSQL not reachable at {PG_BASE}: {exc}")
    base = PG_BASE.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    from agentbatch.store import migrate
    from agentbatch.store.db import Database

    async def setup() -> None:
        db = Database(url)
        await migrate.upgrade(db)
        await db.dispose()

    asyncio.run(setup())
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate(url: str) -> None:
    from sqlalchemy import text

    from agentbatch.store.db import Database

    db = Database(url)
    async with db.write() as conn:
        await conn.execute(
            text(
                "TRUNCATE batch_items, provider_batches, runs, batch_jobs, messages, passages, block_history, "
                "agent_blocks, blocks, agents, tools, api_keys, organizations, schedule_fires, "
                "schedules, agent_selectors CASCADE"
            )
        )
    await db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_truncate(url))
    return url


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("AGENTBATCH_HOME", str(home))
    # the tests drive the HTTP API with the scripted test model (off by default there)
    monkeypatch.setenv("AGENTBATCH_ALLOW_SCRIPTED", "1")
    return home


@pytest.fixture
def recorder(_home: Path) -> RecordingProvider:
    return RecordingProvider(ScriptedProvider(_home / "scripted"))


@pytest.fixture
async def app(database_url: str, recorder: RecordingProvider) -> AsyncIterator[AgentBatch]:
    registry = ProviderRegistry({"scripted": recorder})
    ab = await AgentBatch.open(
        database_url, settings=fast_settings(), registry=registry, upgrade=True
    )
    try:
        yield ab
    finally:
        await ab.close()
