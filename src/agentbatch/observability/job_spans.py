"""The job's trace: ``agentbatch.job`` (created → ended) with one
``agentbatch.provider_batch`` span per provider batch (submitted → ended). Their ids are
derived from the job and batch ids, so the steps' spans link to them from any process."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from agentbatch.observability.spans import batch_span, job_span, job_trace, ns, provider_name
from agentbatch.observability.tracing import EMPTY, ForcedIds, parent


class JobSpans:
    def __init__(self, tracer: Tracer, ids: ForcedIds) -> None:
        self.tracer, self.ids = tracer, ids

    def provider_batch(
        self,
        *,
        batch_id: str,
        job_id: str,
        provider: str,
        model: str,
        external_id: str | None,
        request_count: int,
        status: str,
        error: str | None,
        start: datetime | None,
        end: datetime | None,
        now_ns: int,
    ) -> None:
        self.ids.force(None, batch_span(batch_id))
        span = self.tracer.start_span(
            "agentbatch.provider_batch",
            context=parent(job_trace(job_id), job_span(job_id)),
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.provider.name": provider_name(provider),
                "gen_ai.request.model": model.partition("/")[2] or model,
                "agentbatch.job.id": job_id,
                "agentbatch.provider_batch.id": batch_id,
                "agentbatch.provider_batch.external_id": external_id or "",
                "agentbatch.provider_batch.request_count": request_count,
                "agentbatch.provider_batch.status": status,
            },
            start_time=ns(start, now_ns),
        )
        self.ids.clear()
        if status != "ingested" or error:
            span.set_status(Status(StatusCode.ERROR, (error or status)[:500]))
        span.end(end_time=max(ns(end, now_ns), ns(start, now_ns)))

    def job(self, row: Any, now_ns: int) -> None:
        self.ids.force(job_trace(row.id), job_span(row.id))
        start = ns(row.created_at, now_ns)
        span = self.tracer.start_span(
            "agentbatch.job",
            context=EMPTY,
            kind=SpanKind.INTERNAL,
            attributes={
                "agentbatch.job.id": row.id,
                "agentbatch.job.status": row.status,
                "agentbatch.job.request_count": row.request_count,
            },
            start_time=start,
        )
        self.ids.clear()
        if row.status != "completed":
            span.set_status(Status(StatusCode.ERROR, (row.error or row.status)[:500]))
        span.end(end_time=max(ns(row.finished_at, now_ns), start))
