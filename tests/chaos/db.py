"""The chaos harness's own reads of the database (asyncpg, read-only, never blocking a worker).

A fresh database per run; the harness watches claims and submissions to time its pauses
and cancels, snapshots what a job holds right after its cancel commits, and reads the final
state for the checks."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from tests.chaos.expect import CLOSED_BATCH

PG_BASE = os.environ.get(
    "AGENTBATCH_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_dsn(PG_BASE), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database() -> str:
    """A new empty database at the schema's head; returns its SQLAlchemy URL."""
    from agentbatch.store import migrate
    from agentbatch.store.db import Database

    name = f"agentbatch_chaos_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = f"{PG_BASE.rsplit('/', 1)[0]}/{name}"
    db = Database(url)
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()
    return url


async def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Hot:
    """Work in a racy window right now: claimed but unrecorded runs, batches in submission."""

    kind: str  # "claim" or "submit"
    job_id: str
    owner: str


@dataclass(frozen=True)
class CancelSnapshot:
    message_ids: frozenset[int]
    memory: dict[str, str]  # agent id -> block value


class Reader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: str) -> Reader:
        pool = await asyncpg.create_pool(_dsn(url), min_size=2, max_size=4)
        assert pool is not None
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    async def hot(self) -> list[Hot]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """
                SELECT DISTINCT 'claim' AS kind, job_id, lease_owner FROM runs
                 WHERE status = 'queued' AND lease_owner IS NOT NULL AND lease_expires > now()
                UNION ALL
                SELECT DISTINCT 'submit', job_id, lease_owner FROM provider_batches
                 WHERE status = 'submitting' AND lease_owner IS NOT NULL AND lease_expires > now()
                """
            )
        return [Hot(r["kind"], r["job_id"], r["lease_owner"]) for r in rows]

    async def job_progress(self, job_ids: list[str], steps: int) -> dict[str, tuple[float, str]]:
        """Job id -> (share of its steps applied, its status)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """
                SELECT r.job_id, sum(r.step) AS done, count(*) AS n, j.status
                  FROM runs r JOIN batch_jobs j ON j.id = r.job_id
                 WHERE r.job_id = ANY($1::text[])
                 GROUP BY r.job_id, j.status
                """,
                job_ids,
            )
        return {r["job_id"]: (float(r["done"]) / (r["n"] * steps), r["status"]) for r in rows}

    async def job_statuses(self) -> dict[str, str]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT id, status FROM batch_jobs")
        return {r["id"]: r["status"] for r in rows}

    async def progress(self) -> tuple[tuple[Any, ...], int, int]:
        """(a fingerprint of everything that moves, active runs, open batches)."""
        async with self.pool.acquire() as conn:
            runs = await conn.fetch("SELECT status, count(*) n FROM runs GROUP BY status")
            batches = await conn.fetch(
                "SELECT status, count(*) n FROM provider_batches GROUP BY status"
            )
            msgs = await conn.fetchval("SELECT count(*) FROM messages")
        run_counts = {r["status"]: r["n"] for r in runs}
        batch_counts = {r["status"]: r["n"] for r in batches}
        active = sum(run_counts.get(s, 0) for s in ("queued", "waiting_model", "waiting_tools"))
        open_batches = sum(n for s, n in batch_counts.items() if s not in CLOSED_BATCH)
        key = (tuple(sorted(run_counts.items())), tuple(sorted(batch_counts.items())), msgs)
        return key, active, open_batches

    async def cancel_snapshot(self, job_id: str) -> CancelSnapshot:
        """What the job's agents hold, in one consistent snapshot."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            ids = await conn.fetch("SELECT id FROM messages WHERE job_id = $1", job_id)
            memory = await conn.fetch(_MEMORY + " WHERE r.job_id = $1", job_id)
        return CancelSnapshot(
            frozenset(r["id"] for r in ids), {r["agent_id"]: r["value"] for r in memory}
        )

    async def final_state(self) -> FinalState:
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            jobs = await conn.fetch("SELECT id, status, finished_at FROM batch_jobs")
            runs = await conn.fetch("SELECT id, job_id, agent_id, status, last_error FROM runs")
            msgs = await conn.fetch(
                "SELECT id, job_id, agent_id, kind, step, tool_calls, is_error FROM messages"
            )
            memory = await conn.fetch(_MEMORY)
            batches = await conn.fetch(
                "SELECT id, job_id, status, external_id, submitted_at FROM provider_batches"
            )
            items = await conn.fetch(
                "SELECT provider_batch_id, outcome, error, applied FROM batch_items"
            )
        return FinalState(
            [dict(r) for r in jobs],
            [dict(r) for r in runs],
            [dict(r) for r in msgs],
            {r["agent_id"]: r["value"] for r in memory},
            [dict(r) for r in batches],
            [dict(r) for r in items],
        )


_MEMORY = """
SELECT ab.agent_id, b.value FROM agent_blocks ab
  JOIN blocks b ON b.id = ab.block_id
  JOIN runs r ON r.agent_id = ab.agent_id"""


@dataclass
class FinalState:
    jobs: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    memory: dict[str, str]
    batches: list[dict[str, Any]]
    items: list[dict[str, Any]]
