"""Prometheus metrics (the official ``prometheus-client``), one registry per process.

Counters and histograms are kept by the process that does the work (the worker in
``agentbatch serve --with-worker`` or ``agentbatch worker``); the gauges read from the
database (runs by status, provider batches in flight) are filled when ``/metrics`` is
scraped. Label values that tenants choose (model names, tool names) are capped: past
``MAX_LABEL_VALUES`` distinct values, new ones count as ``other``. No id, prompt or other
tenant text ever becomes a label."""

from __future__ import annotations

import threading

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

MAX_LABEL_VALUES = 200
TOOL_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
PASS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
TURNAROUND_BUCKETS = (1, 10, 30, 60, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400)


class LabelCap:
    """Distinct values seen for a tenant-chosen label, capped (``other`` past the cap)."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self.limit = limit
        self.seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self.seen:
            return value
        with self._lock:
            if len(self.seen) >= self.limit:
                return "other"
            self.seen.add(value)
        return value


class PromMetrics:
    def __init__(self) -> None:
        disable_created_metrics()  # no *_created series: they double what scrapers store
        r = self.registry = CollectorRegistry(auto_describe=True)
        process_collector.ProcessCollector(registry=r)
        platform_collector.PlatformCollector(registry=r)
        gc_collector.GCCollector(registry=r)
        self.models = LabelCap()
        self.tools = LabelCap()
        self.items_applied = Counter(
            "agentbatch_items_applied",
            "Provider results applied to their runs (rate() gives items applied per second)",
            ["outcome"],
            registry=r,
        )
        self.agent_steps = Counter(
            "agentbatch_agent_steps",
            "Agent steps resolved (a model answer applied: tools run, messages stored)",
            ["provider", "model"],
            registry=r,
        )
        self.retries = Counter(
            "agentbatch_retries",
            "Requests sent again after a provider error, expiry or cancel, by kind",
            ["kind"],
            registry=r,
        )
        self.failures = Counter(
            "agentbatch_run_failures",
            "Runs that failed, by error kind",
            ["kind"],
            registry=r,
        )
        self.runs_finished = Counter(
            "agentbatch_runs_finished",
            "Runs that reached a final status in this process",
            ["status"],
            registry=r,
        )
        self.tokens = Counter(
            "agentbatch_tokens",
            "Tokens used, by provider, model and type (input, output, cache_read, cache_write)",
            ["provider", "model", "type"],
            registry=r,
        )
        self.cost = Counter(
            "agentbatch_cost_usd",
            "What the applied results cost in USD (batch prices), by provider and model",
            ["provider", "model"],
            registry=r,
        )
        self.tool_seconds = Histogram(
            "agentbatch_tool_call_duration_seconds",
            "How long custom tool calls (sandbox) and conversation_search took",
            ["tool", "kind"],
            buckets=TOOL_BUCKETS,
            registry=r,
        )
        self.pass_seconds = Histogram(
            "agentbatch_worker_pass_duration_seconds",
            "Duration of each worker pass (submit, poll, tools, cleanup, finish, ...)",
            ["pass_name"],
            buckets=PASS_BUCKETS,
            registry=r,
        )
        self.pass_work = Counter(
            "agentbatch_worker_pass_items",
            "Units of work the worker passes found (runs claimed, batches polled, ...)",
            ["pass_name"],
            registry=r,
        )
        self.takeovers = Counter(
            "agentbatch_lease_takeovers",
            "Leases taken over: a worker found its claim moved on (its work is given up), "
            "or recovery took a stalled submission from a dead worker",
            ["entity"],
            registry=r,
        )
        self.batches_submitted = Counter(
            "agentbatch_provider_batches_submitted",
            "Provider batches created at the provider",
            ["provider"],
            registry=r,
        )
        self.requests_submitted = Counter(
            "agentbatch_provider_requests_submitted",
            "Requests sent inside provider batches",
            ["provider"],
            registry=r,
        )
        self.batches_ended = Counter(
            "agentbatch_provider_batches_ended",
            "Provider batches that ended (ingested, failed, canceled)",
            ["provider", "status"],
            registry=r,
        )
        self.turnaround = Histogram(
            "agentbatch_provider_batch_turnaround_seconds",
            "From a provider batch's submission to its results being read",
            ["provider"],
            buckets=TURNAROUND_BUCKETS,
            registry=r,
        )
        self.jobs_finished = Counter(
            "agentbatch_jobs_finished",
            "Jobs that ended, by final status",
            ["status"],
            registry=r,
        )
        # read from the database at scrape time (see observability.scrape)
        self.db = CollectorRegistry(auto_describe=True)
        self.runs = Gauge(
            "agentbatch_runs",
            "Runs of unfinished jobs, by status (from the database)",
            ["status"],
            registry=self.db,
        )
        self.in_flight = Gauge(
            "agentbatch_provider_batches_in_flight",
            "Provider batches being submitted or waiting at the provider (from the database)",
            ["provider"],
            registry=self.db,
        )
        self.jobs_open = Gauge(
            "agentbatch_jobs",
            "Jobs not yet ended, by status (from the database)",
            ["status"],
            registry=self.db,
        )

    def render(self, with_db: bool) -> bytes:
        out = generate_latest(self.registry)
        if with_db:
            out += generate_latest(self.db)
        return out
