"""What one committed apply chunk did, counted for the metrics (and, when tracing, the
steps to describe as spans): items by outcome, retries and failures by kind, runs that
finished, steps, tokens and cost by model. Pure: it reads the chunk's plan and results."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentbatch.observability.spans import StepRecord

if TYPE_CHECKING:
    from agentbatch.observability.prom import PromMetrics
    from agentbatch.pricing import PriceTable
    from agentbatch.runtime.apply.commit import Planned


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    finished: Counter[str] = field(default_factory=Counter)
    steps: Counter[str] = field(default_factory=Counter)
    usage: dict[str, list[int]] = field(default_factory=dict)  # handle -> in, out, cr, cw
    deferred: list[str] = field(default_factory=list)  # items whose tools run outside
    records: list[StepRecord] = field(default_factory=list)

    def count(self, m: PromMetrics, prices: PriceTable) -> None:
        for outcome, n in self.outcomes.items():
            m.items_applied.labels(outcome).inc(n)
        for kind, n in self.retries.items():
            m.retries.labels(kind).inc(n)
        for kind, n in self.failures.items():
            m.failures.labels(kind).inc(n)
        for status, n in self.finished.items():
            m.runs_finished.labels(status).inc(n)
        for handle, n in self.steps.items():
            provider, _, model = handle.partition("/")
            m.agent_steps.labels(provider, m.models(model)).inc(n)
        for handle, (inp, out, cr, cw) in self.usage.items():
            provider, _, model = handle.partition("/")
            label = m.models(model)
            for kind, n in (
                ("input", inp),
                ("output", out),
                ("cache_read", cr),
                ("cache_write", cw),
            ):
                if n:
                    m.tokens.labels(provider, label, kind).inc(n)
            price = prices.prices.get(handle)
            if price is not None:
                cost = (
                    inp * price.input
                    + out * price.output
                    + cr * price.cache_read
                    + cw * price.cache_write
                ) / 1e6
                m.cost.labels(provider, label).inc(cost * (1.0 - price.batch_discount))


def tally(planned: Planned, *, with_records: bool) -> Tally | None:
    """The chunk's counts (None when nothing was written)."""
    from agentbatch.runtime.apply.plan import error_kind

    plan, snap = planned.plan, planned.snapshot
    if plan is None or snap is None or plan.pending:
        return None
    out = Tally()
    updates = {row["b_id"]: row for row in plan.writes.run_updates}
    for run_id, (_status, item_id, step) in plan.expect.runs.items():
        if item_id is None:
            continue
        result, row = planned.results.get(item_id), updates.get(run_id)
        if result is None or row is None:
            continue
        status = row.get("status")
        if status == "waiting_tools":
            out.deferred.append(item_id)
            continue
        out.outcomes[result.outcome.value] += 1
        kind: str | None = None
        if status == "failed":
            kind = row.get("error_kind") or "unknown"
            out.failures[kind] += 1
            out.finished["failed"] += 1
        elif status == "queued" and "step" not in row:
            kind = error_kind(result)
            out.retries[kind] += 1
        run = snap.runs.get(run_id)
        found = snap.agents.get(run.agent_id) if run is not None else None
        handle = found[0].model if found is not None else "unknown/unknown"
        if "step" in row and result.response is not None:
            out.steps[handle] += 1
            u = result.response.usage
            acc = out.usage.setdefault(handle, [0, 0, 0, 0])
            acc[0] += u.input_tokens
            acc[1] += u.output_tokens
            acc[2] += u.cache_read_tokens
            acc[3] += u.cache_write_tokens
            if status == "completed":
                out.finished["completed"] += 1
        if with_records and run is not None:
            name = found[0].name if found is not None else run.agent_id
            out.records.append(
                StepRecord(
                    item_id,
                    run_id,
                    run.job_id,
                    run.agent_id,
                    name,
                    handle,
                    step,
                    result,
                    kind,
                    status == "failed",
                )
            )
    return out
