"""Fixtures of the provider tests: both emulators served on 127.0.0.1, and an app on
SQLite whose providers point at them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentbatch.app import AgentBatch
from agentbatch.config import RuntimeSettings
from tests.conftest import fast_settings
from tests.integration.test_provider_jobs import SCRIPT, Emulators, providers_for


@pytest.fixture
def emus() -> Iterator[Emulators]:
    with Emulators(SCRIPT).serving() as emulators:
        yield emulators


async def open_app(
    url: str,
    emus: Emulators,
    home: Path,
    settings: RuntimeSettings | None = None,
    **providers: Any,
) -> AgentBatch:
    registry = providers_for(emus, home)
    for name, provider in providers.items():
        registry.register(name.replace("_", "-"), provider)
    return await AgentBatch.open(
        url, settings=settings or fast_settings(), registry=registry, upgrade=True
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'faults.db'}"


@pytest.fixture
async def ab(sqlite_url: str, emus: Emulators, _home: Path) -> AsyncIterator[AgentBatch]:
    app = await open_app(sqlite_url, emus, _home)
    try:
        yield app
    finally:
        await app.close()
