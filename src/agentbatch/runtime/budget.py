"""Budgets: a job with ``max_cost_usd`` sends a request only while what it has spent, plus
what its requests in flight are expected to cost, plus this request's expected cost stays
within the budget. A run whose next request would pass it ends ``failed`` with the error
kind and stop reason ``budget_exhausted``.

Spent is exact for what was applied (token counts priced per model, live calls at the
live rate, batch calls with the batch discount). A request's expected cost is its
estimated input tokens (``providers.token_estimate``: the part the prompt cache is
expected to read at the cache-read price, to write at the cache-write price, the rest at
the input price) plus its
expected output: the job's average output per call so far (capped by the request's
``max_tokens``); before its first call, its organisation's recent runs of the model
tell (or ``AGENTBATCH_BUDGET_OUTPUT_TOKENS`` without any). The estimate is stored on the
item and counts as committed until the item is settled. Two workers
submitting for one job at the same moment may each pass the check: the limit can be
passed by at most one submission's estimate error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentbatch.pricing import Price, PriceTable
from agentbatch.providers.token_estimate import cache_split, max_output_tokens
from agentbatch.runtime.context import RuntimeContext
from agentbatch.store import job_limits as reads
from agentbatch.store import jobs_repo

if TYPE_CHECKING:
    from agentbatch.runtime.submit.split import Prepared

BUDGET_EXHAUSTED = "budget_exhausted"


def prices(ctx: RuntimeContext) -> PriceTable:
    table = ctx.limits.price_table
    if table is None:
        table = ctx.limits.price_table = PriceTable.load()
    assert isinstance(table, PriceTable)
    return table


def request_cost(price: Price | None, entry: dict[str, Any], output: float, live: bool) -> float:
    """Expected USD of one encoded request (0 for unpriced models), its input priced by
    what the prompt cache is expected to read and write (``cache_split``)."""
    if price is None:
        return 0.0
    factor = 1.0 if live else 1.0 - price.batch_discount
    read, written, plain = cache_split(entry)
    cap = max_output_tokens(entry)
    tokens_out = min(output, cap) if cap is not None else output
    usd = (
        read * price.cache_read
        + written * price.cache_write
        + plain * price.input
        + tokens_out * price.output
    )
    return usd / 1e6 * factor


async def spent_usd(ctx: RuntimeContext, job_id: str) -> float:
    """What the job's applied steps cost (live calls at the live rate)."""
    async with ctx.db.read() as conn:
        by_model = await jobs_repo.usage_by_model(conn, job_id)
        live = await reads.live_usage_by_model(conn, job_id)
    return float(prices(ctx).route_cost(by_model, live)["usd"])


@dataclass
class Budget:
    """The room left in one job's budget during one submission (None: no budget)."""

    job_id: str
    max_usd: float | None
    spent: float = 0.0
    committed: float = 0.0
    output_per_call: float | None = None  # the job's own average, once it has one
    taken: float = 0.0  # estimates admitted by this submission so far
    stopped: list[Prepared] = field(default_factory=list)

    @property
    def left(self) -> float:
        assert self.max_usd is not None
        return self.max_usd - self.spent - self.committed - self.taken

    def reason(self, estimate: float) -> str:
        return (
            f"budget exhausted: the job has spent ${self.spent:.6f} and has "
            f"${self.committed + self.taken:.6f} more in flight of its ${self.max_usd:.6f}; "
            f"this step would cost about ${estimate:.6f}"
        )


async def open_budget(ctx: RuntimeContext, job_id: str, max_usd: float | None) -> Budget:
    if max_usd is None:
        return Budget(job_id, None)
    spent = await spent_usd(ctx, job_id)
    async with ctx.db.read() as conn:
        committed, _ = await reads.committed(conn, job_id)
        per_call = await reads.output_per_call(conn, job_id)
    return Budget(job_id, max_usd, spent, committed, per_call)


async def output_guess(ctx: RuntimeContext, job_id: str, model: str) -> float:
    """Output tokens a call of ``model`` is expected to produce: the org's recent runs
    of the model tell (cached for ten minutes), else ``AGENTBATCH_BUDGET_OUTPUT_TOKENS``."""
    now = ctx.clock()
    key = ("output", job_id, model)
    cached = ctx.limits.turnaround.get(key)
    if cached is not None and (now - cached[0]).total_seconds() < 600:
        return cached[1]
    async with ctx.db.read() as conn:
        org_id = await reads.job_org(conn, job_id)
        found = await reads.org_output_per_call(conn, org_id, model) if org_id else None
    guess = found if found is not None else float(ctx.limits.settings.budget_output_tokens)
    ctx.limits.turnaround[key] = (now, guess)
    return guess


async def admit(
    ctx: RuntimeContext, budget: Budget, model: str, ready: list[Prepared], live: bool
) -> list[Prepared]:
    """The requests that fit (each gets its ``est_cost``); the rest go to
    ``budget.stopped``. Without a budget every request fits."""
    if budget.max_usd is None or not ready:
        return ready
    price = prices(ctx).price_of(model)
    output = budget.output_per_call
    if output is None:
        output = await output_guess(ctx, budget.job_id, model)
    out: list[Prepared] = []
    for item in ready:
        estimate = request_cost(price, item.entry, output, live)
        item.est_cost = estimate
        if estimate > budget.left:
            budget.stopped.append(item)
            continue
        budget.taken += estimate
        out.append(item)
    return out
