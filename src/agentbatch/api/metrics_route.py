"""``GET /metrics``: Prometheus text format. The process's counters and histograms, plus
gauges read from the database at scrape time (cached for a few seconds): runs of
unfinished jobs by status, unfinished jobs by status, provider batches in flight.

Operator-level and aggregated over organisations (no ids, no tenant text). Open by
default, like most exporters; ``AGENTBATCH_METRICS_TOKEN`` requires
``Authorization: Bearer <token>``, ``AGENTBATCH_METRICS=0`` turns it off."""

from __future__ import annotations

import hmac
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from agentbatch.domain.statuses import RunStatus
from agentbatch.observability import metrics
from agentbatch.observability.settings import ObservabilitySettings
from agentbatch.store import trace_reads

router = APIRouter(include_in_schema=False)
CACHE_S = 5.0
_last_refresh = 0.0


@router.get("/metrics")
async def scrape(request: Request) -> Response:
    settings: ObservabilitySettings = request.app.state.observability
    if not settings.metrics:
        return Response("metrics are off (AGENTBATCH_METRICS=0)", status_code=404)
    if settings.metrics_token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {settings.metrics_token}".encode()):
            return Response("missing or wrong metrics token", status_code=401)
    await _refresh(request.app.state.batch.db)
    return Response(metrics().render(with_db=True), media_type=CONTENT_TYPE_LATEST)


async def _refresh(db: object) -> None:
    global _last_refresh
    now = time.monotonic()
    if now - _last_refresh < CACHE_S:
        return
    async with db.read() as conn:  # type: ignore[attr-defined]
        found = await trace_reads.gauges(conn)
    m = metrics()
    runs = dict.fromkeys((s.value for s in RunStatus), 0) | dict(found["runs"])
    for status, n in runs.items():
        m.runs.labels(status).set(n)
    jobs = {"created": 0, "running": 0} | dict(found["jobs"])
    for status, n in jobs.items():
        m.jobs_open.labels(status).set(n)
    m.in_flight.clear()
    for provider, n in found["in_flight"]:
        m.in_flight.labels(provider).set(n)
    _last_refresh = now


def reset_cache() -> None:
    """Read the database at the next scrape (tests)."""
    global _last_refresh
    _last_refresh = 0.0
