"""Helpers for the HTTP tests: a migrated store, API keys, a live server, bulk agents."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import insert

from agentbatch.api import ApiConfig, create_app
from agentbatch.api.server import ThreadedServer
from agentbatch.app import AgentBatch, ensure_org
from agentbatch.ids import new_id, utcnow
from agentbatch.keys import create_key
from agentbatch.store.tables import agents
from tests.conftest import fast_settings


async def _mint(url: str, orgs: tuple[str, ...]) -> list[str]:
    ab = await AgentBatch.open(url, upgrade=True)
    try:
        return [(await create_key(ab.db, org, f"{org} test key")).secret for org in orgs]
    finally:
        await ab.close()


def mint_keys(url: str, *orgs: str) -> list[str]:
    """Migrate the store and mint one API key per organisation."""
    return asyncio.run(_mint(url, orgs))


@contextmanager
def serve(url: str, **config: Any) -> Iterator[ThreadedServer]:
    """The API on 127.0.0.1 (a free port), with an in-process worker unless told otherwise."""
    values: dict[str, Any] = {
        "database_url": url,
        "with_worker": True,
        "settings": fast_settings(),
        "upgrade": True,
    }
    values.update(config)
    with ThreadedServer(create_app(ApiConfig(**values))) as server:
        yield server


async def _seed(url: str, org: str, n: int) -> list[str]:
    ab = await AgentBatch.open(url, upgrade=True)
    try:
        await ensure_org(ab.db, org)
        now = utcnow()
        rows = [
            {
                "id": new_id("agent"),
                "org_id": org,
                "name": f"bulk-{i}",
                "system": "You are a helpful agent.",
                "model": "scripted/bulk",
                "model_settings": {},
                "tool_names": ["send_message"],
                "tool_rules": [],
                "message_buffer_autoclear": False,
                "metadata": {},
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ]
        async with ab.db.write() as conn:
            for start in range(0, n, 2000):
                await conn.execute(insert(agents), rows[start : start + 2000])
        return [r["id"] for r in rows]
    finally:
        await ab.close()


def seed_agents(url: str, org: str, n: int) -> list[str]:
    """``n`` minimal agents written straight to the store (fast set-up for big jobs)."""
    return asyncio.run(_seed(url, org, n))
