"""Benchmarks of observability: the cost of tracing on the bench job (spans encoded as
OTLP protobuf, as an exporter would send them, then dropped), and the dashboard's render
time over a job of many runs (``agentbatch bench --dashboard``)."""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agentbatch.ids import new_id, utcnow

MODEL = "anthropic/claude-haiku-4-5"
ERRORS = (
    ("provider_error", "errored: overloaded_error (after 3 attempt(s))"),
    ("expired", "expired: the batch expired before this request ran (after 3 attempt(s))"),
    ("invalid_request", "errored: prompt is too long: 210000 tokens > 200000 maximum"),
)


class EncodingExporter(SpanExporter):
    """Encodes each batch of spans to OTLP protobuf (the exporter's CPU cost) and drops it."""

    def __init__(self) -> None:
        self.spans = 0
        self.bytes = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        self.bytes += len(encode_spans(spans).SerializeToString())
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _job(job_id: str, n: int, status: str, created: datetime, now: datetime) -> dict[str, Any]:
    return {
        "id": job_id,
        "org_id": "bench",
        "status": status,
        "max_steps": 3,
        "max_attempts": 3,
        "options": {},
        "metadata": {},
        "callback_attempts": 0,
        "request_count": n,
        "created_at": created,
        "updated_at": now,
        "started_at": created,
        "finished_at": None if status == "running" else now,
    }


def _batches(job_id: str, n: int, start: datetime, now: datetime) -> list[dict[str, Any]]:
    out = []
    for i in range(max(1, n // 10_000) * 3):
        sent = start + timedelta(minutes=2 * i)
        out.append(
            {
                "id": new_id("pbatch"),
                "job_id": job_id,
                "provider": "anthropic",
                "model": MODEL,
                "external_id": f"msgbatch_{i:06d}",
                "status": "ingested",
                "request_count": 10_000,
                "payload_bytes": 0,
                "poll_count": 12,
                "created_at": sent,
                "submitted_at": sent,
                "ended_at": sent + timedelta(minutes=15),
            }
        )
    out[-1].update(status="in_progress", ended_at=None, submitted_at=now - timedelta(minutes=5))
    return out


def _rows(i: int, n: int, job_id: str, start: datetime, now: datetime) -> tuple[dict, dict]:
    agent_id = new_id("agent")
    agent = {
        "id": agent_id,
        "org_id": "bench",
        "name": f"agent-{i}",
        "system": "You keep notes.",
        "model": MODEL,
        "model_settings": {},
        "tool_names": [],
        "tool_rules": [],
        "message_buffer_autoclear": False,
        "metadata": {},
        "created_at": now,
        "updated_at": now,
    }
    status = "completed" if i % 20 < 17 else "failed" if i % 20 < 19 else "waiting_model"
    kind, error = ERRORS[i % 3] if status == "failed" else (None, None)
    run = {
        "id": new_id("run"),
        "job_id": job_id,
        "agent_id": agent_id,
        "org_id": "bench",
        "model": MODEL,
        "status": status,
        "step": 3 if status == "completed" else 1,
        "attempt": 1,
        "input_tokens": 1500,
        "output_tokens": 200,
        "cache_read_tokens": 1200,
        "cache_write_tokens": 0,
        "not_before": now,
        "created_at": start,
        "updated_at": now,
        "finished_at": (
            start + timedelta(seconds=(i * 7200) // n) if status != "waiting_model" else None
        ),
        "last_error": error,
        "error_kind": kind,
        "stop_reason": "error" if status == "failed" else None,
        "reply": "Noted." if status == "completed" else None,
    }
    return agent, run


async def _seed(url: str, n: int) -> tuple[str, str, str]:
    """One running job of ``n`` runs (85% completed, 10% failed with three distinct errors,
    5% waiting on an in-flight provider batch), its provider batches, 30 small ended jobs.
    Returns (API key, job id, the id of a run 90% of the way through the job)."""
    from sqlalchemy import insert

    from agentbatch.app import AgentBatch
    from agentbatch.keys import create_key
    from agentbatch.store.tables import agents, batch_jobs, provider_batches, runs

    ab = await AgentBatch.open(url, upgrade=True)
    try:
        key = (await create_key(ab.db, "bench", "dashboard bench")).secret
        now = utcnow()
        start = now - timedelta(hours=2)
        big = new_id("job")
        jobs = [_job(big, n, "running", start, now)]
        jobs += [
            _job(new_id("job"), 10, "completed", start - timedelta(hours=i + 1), now)
            for i in range(30)
        ]
        deep = ""
        async with ab.db.write() as conn:
            await conn.execute(insert(batch_jobs), jobs)
            await conn.execute(insert(provider_batches), _batches(big, n, start, now))
        for offset in range(0, n, 5000):
            pairs = [_rows(i, n, big, start, now) for i in range(offset, min(n, offset + 5000))]
            async with ab.db.write() as conn:
                await conn.execute(insert(agents), [a for a, _ in pairs])
                await conn.execute(insert(runs), [r for _, r in pairs])
            for i, (_, run) in enumerate(pairs, offset):
                if i == int(n * 0.9):
                    deep = run["id"]
        return key, big, deep
    finally:
        await ab.close()


def bench_dashboard(n: int, rounds: int = 5, database_url: str | None = None) -> dict[str, Any]:
    """Seed a job of ``n`` runs, then time each dashboard page ``rounds`` times over HTTP
    (a real server on 127.0.0.1, logged in with a key)."""
    import httpx

    from agentbatch.api import ApiConfig, create_app
    from agentbatch.api.server import ThreadedServer

    tmp = tempfile.TemporaryDirectory(prefix="agentbatch-dash-")
    os.environ.setdefault("AGENTBATCH_HOME", tmp.name)
    url = database_url or f"sqlite+aiosqlite:///{Path(tmp.name) / 'dash.db'}"
    t0 = time.perf_counter()
    key, job_id, deep = asyncio.run(_seed(url, n))
    seed_s = time.perf_counter() - t0
    pages = {
        "jobs list (/)": "/",
        "job page (first runs page)": f"/ui/jobs/{job_id}",
        "job page, failed runs": f"/ui/jobs/{job_id}?status=failed",
        "job page, runs page at 90%": f"/ui/jobs/{job_id}?after={deep}",
        "live refresh (summary fragment)": f"/ui/jobs/{job_id}?fragment=summary",
    }
    timings: dict[str, list[float]] = {}
    try:
        with ThreadedServer(create_app(ApiConfig(database_url=url, with_worker=False))) as srv:
            client = httpx.Client(base_url=srv.url, timeout=60)
            login = client.post("/ui/login", data={"key": key})
            if login.status_code != 303:
                raise RuntimeError(f"login failed: {login.status_code}")
            for name, path in pages.items():
                for _ in range(rounds):
                    t = time.perf_counter()
                    response = client.get(path)
                    timings.setdefault(name, []).append(time.perf_counter() - t)
                    if response.status_code != 200:
                        raise RuntimeError(f"{path}: HTTP {response.status_code}")
    finally:
        tmp.cleanup()
    return {
        "runs": n,
        "database": url.split(":")[0],
        "seed_s": round(seed_s, 1),
        "pages": {
            name: {
                "first_s": round(t[0], 3),
                "median_s": round(statistics.median(t), 3),
                "max_s": round(max(t), 3),
            }
            for name, t in timings.items()
        },
    }
