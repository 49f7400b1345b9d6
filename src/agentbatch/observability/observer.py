"""The runtime's one observer: Prometheus counters always, spans when tracing is on.

The runtime calls it at a few points (a worker pass, an applied chunk, a provider batch
submitted or ended, a custom tool call, a job ended, a lease found taken over). With
tracing off each call is a few counter increments per chunk, never per-item I/O."""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Status, StatusCode

from agentbatch import __version__
from agentbatch.observability import prom
from agentbatch.observability.applied import tally
from agentbatch.observability.job_spans import JobSpans
from agentbatch.observability.settings import ObservabilitySettings
from agentbatch.observability.spans import ItemTimes, StepRecord, StepSpans
from agentbatch.observability.tracing import EMPTY, exporters_from_env, make_provider
from agentbatch.pricing import PriceTable
from agentbatch.store import trace_reads

if TYPE_CHECKING:
    from agentbatch.runtime.apply.commit import Planned
    from agentbatch.store.db import Database

log = logging.getLogger(__name__)
_METRICS: prom.PromMetrics | None = None
_REMEMBERED = 50_000  # custom tool timings and result times kept for spans not yet emitted


def metrics() -> prom.PromMetrics:
    """The process's Prometheus metrics (one registry per process)."""
    global _METRICS
    if _METRICS is None:
        _METRICS = prom.PromMetrics()
    return _METRICS


@dataclass
class PassInfo:
    work: int = 0
    chunk_size: int = 0


def _remember(store: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    store[key] = value
    if len(store) > _REMEMBERED:
        store.popitem(last=False)


class Observer:
    def __init__(
        self,
        settings: ObservabilitySettings | None = None,
        *,
        exporters: Sequence[SpanExporter] | None = None,
        batch_export: bool = True,
    ) -> None:
        self.settings = settings or ObservabilitySettings()
        self.prom = metrics()
        self._prices: PriceTable | None = None
        self.provider: TracerProvider | None = None
        self.spans: StepSpans | None = None
        self.job_spans: JobSpans | None = None
        self.tracer: trace.Tracer | None = None
        if exporters:
            self.provider, ids, direct = make_provider(list(exporters), batch=batch_export)
            self.tracer = self.provider.get_tracer("agentbatch", __version__)
            self.spans = StepSpans(direct, self.settings.capture_content)
            self.job_spans = JobSpans(self.tracer, ids)
        self._tool_times: OrderedDict[tuple[str, str], tuple[int, int]] = OrderedDict()
        self._result_ns: OrderedDict[str, int] = OrderedDict()
        self._passes: dict[str, tuple[Any, Any]] = {}

    @classmethod
    def from_env(cls) -> Observer:
        import os

        settings = ObservabilitySettings.from_env()
        exporters = exporters_from_env(os.environ) if settings.tracing else None
        return cls(settings, exporters=exporters)

    @property
    def tracing(self) -> bool:
        return self.spans is not None

    @property
    def prices(self) -> PriceTable:
        if self._prices is None:
            self._prices = PriceTable.load()
        return self._prices

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()

    def flush(self) -> None:
        if self.provider is not None:
            self.provider.force_flush()

    # -- worker passes ---------------------------------------------------------------------

    @contextlib.contextmanager
    def worker_pass(self, name: str) -> Iterator[PassInfo]:
        """Times a pass (histogram); traced as ``agentbatch.worker.{name}`` when it found
        work (a pass that found nothing is not exported)."""
        found = self._passes.get(name)
        if found is None:
            found = self._passes[name] = (
                self.prom.pass_seconds.labels(name),
                self.prom.pass_work.labels(name),
            )
        info = PassInfo()
        start = time.perf_counter()
        span = None
        if self.tracer is not None:
            span = self.tracer.start_span(f"agentbatch.worker.{name}", context=EMPTY)
        try:
            if span is None:
                yield info
            else:
                with trace.use_span(span, end_on_exit=False, record_exception=False):
                    yield info
        except BaseException as exc:
            if span is not None:
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:500]))
                span.end()
            raise
        finally:
            found[0].observe(time.perf_counter() - start)
            if info.work:
                found[1].inc(info.work)
        if span is not None and info.work:
            span.set_attribute("agentbatch.pass.name", name)
            span.set_attribute("agentbatch.pass.work", info.work)
            if info.chunk_size:
                span.set_attribute("agentbatch.chunk_size", info.chunk_size)
            span.end()

    @contextlib.contextmanager
    def chunk_span(self, name: str, items: int) -> Iterator[None]:
        """A span around one chunk of a pass (``agentbatch.{name}``, with its size)."""
        if self.tracer is None:
            yield
            return
        with self.tracer.start_as_current_span(
            f"agentbatch.{name}", attributes={"agentbatch.chunk.items": items}
        ):
            yield

    # -- applied chunks --------------------------------------------------------------------

    async def applied(self, db: Database, planned: Planned, now_ns: int) -> None:
        """Counters for a committed chunk; its steps' spans when tracing."""
        found = tally(planned, with_records=self.spans is not None)
        if found is None:
            return
        for item_id in found.deferred:  # applied later, with its tools' results
            _remember(self._result_ns, item_id, now_ns)
        found.count(self.prom, self.prices)
        if found.records:
            assert planned.plan is not None
            await self._emit_steps(db, planned.plan, found.records, now_ns)

    async def _emit_steps(
        self, db: Database, plan: Any, records: list[StepRecord], now_ns: int
    ) -> None:
        assert self.spans is not None
        tools: dict[str, list[dict[str, Any]]] = {}
        for msg in plan.writes.messages:
            if msg.get("role") == "tool":
                tools.setdefault(msg["run_id"], []).append(msg)
        for rec in records:
            rec.tool_rows = tools.get(rec.run_id, [])
        async with db.read() as conn:
            rows = await trace_reads.item_times(conn, [r.item_id for r in records])
            inputs = (
                await trace_reads.step_inputs(conn, [r.run_id for r in records])
                if self.settings.capture_content
                else []
            )
        times = {r.id: ItemTimes(r.provider_batch_id, r.created_at, r.submitted_at) for r in rows}
        if inputs:
            by_step: dict[tuple[str, int], list[dict[str, Any]]] = {}
            for r in inputs:
                by_step.setdefault((r.run_id, r.step), []).append(
                    {"role": "user", "parts": [{"type": "text", "content": r.content or ""}]}
                )
            for rec in records:
                rec.inputs = by_step.get((rec.run_id, rec.step), [])
        result_ns = {r.item_id: self._result_ns.pop(r.item_id, now_ns) for r in records}
        self.spans.emit(records, times, now_ns, self._tool_times, result_ns)
        for rec in records:
            if rec.result.response is not None:
                for call in rec.result.response.tool_calls:
                    self._tool_times.pop((rec.item_id, call.id), None)

    # -- single events ---------------------------------------------------------------------

    def runs_failed(self, kind: str, n: int) -> None:
        if n:
            self.prom.failures.labels(kind).inc(n)
            self.prom.runs_finished.labels("failed").inc(n)

    def batch_submitted(self, provider: str, requests: int) -> None:
        self.prom.batches_submitted.labels(provider).inc()
        self.prom.requests_submitted.labels(provider).inc(requests)

    def batch_ended(
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
        start: Any,
        end: Any,
    ) -> None:
        self.prom.batches_ended.labels(provider, status).inc()
        if status == "ingested" and start is not None and end is not None:
            from agentbatch.ids import as_utc

            seconds = (as_utc(end) - as_utc(start)).total_seconds()  # type: ignore[operator]
            self.prom.turnaround.labels(provider).observe(max(0.0, seconds))
        if self.job_spans is not None:
            self.job_spans.provider_batch(
                batch_id=batch_id,
                job_id=job_id,
                provider=provider,
                model=model,
                external_id=external_id,
                request_count=request_count,
                status=status,
                error=error,
                start=start,
                end=end,
                now_ns=time.time_ns(),
            )

    def tool_call(
        self, item_id: str, call_id: str, name: str, kind: str, start_ns: int, end_ns: int
    ) -> None:
        self.prom.tool_seconds.labels(self.prom.tools(name), kind).observe(
            max(0, end_ns - start_ns) / 1e9
        )
        if self.spans is not None:
            _remember(self._tool_times, (item_id, call_id), (start_ns, end_ns))

    def lease_lost(self, entity: str) -> None:
        self.prom.takeovers.labels(entity).inc()

    async def jobs_ended(self, db: Database, job_ids: Sequence[str]) -> None:
        """Count ended jobs; trace each (with its provider batches that were not ingested)."""
        if not job_ids:
            return
        async with db.read() as conn:
            rows = await trace_reads.ended_jobs(conn, job_ids)
            batches = {r.id: await trace_reads.unfinished_batches_of(conn, r.id) for r in rows}
        for row in rows:
            self.prom.jobs_finished.labels(row.status).inc()
            for b in batches.get(row.id, []):
                self.batch_ended(
                    batch_id=b.id,
                    job_id=b.job_id,
                    provider=b.provider,
                    model=b.model,
                    external_id=b.external_id,
                    request_count=b.request_count,
                    status=b.status,
                    error=b.error,
                    start=b.submitted_at or b.created_at,
                    end=b.ended_at or row.finished_at,
                )
            if self.job_spans is not None:
                self.job_spans.job(row, time.time_ns())
