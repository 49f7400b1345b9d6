"""Where each prepared request of a submission goes: through the provider's batch, live
(a deadline is near: ``runtime.deadlines``), or nowhere (the job's budget would be
passed: ``runtime.budget``; the run ends ``budget_exhausted``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentbatch.runtime.budget import BUDGET_EXHAUSTED, Budget, admit, open_budget
from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.deadlines import limits_of, route
from agentbatch.runtime.settle import fail_claimed
from agentbatch.store.job_limits import JobLimits
from agentbatch.store.rows import ClaimedRun

if TYPE_CHECKING:
    from agentbatch.runtime.submit.split import Prepared


@dataclass
class GroupRoute:
    """One submission's view of its job: deadline and budget left."""

    job: JobLimits | None
    budget: Budget


async def open_route(ctx: RuntimeContext, job_id: str) -> GroupRoute:
    job = await limits_of(ctx, job_id)
    budget = await open_budget(ctx, job_id, job.max_cost_usd if job is not None else None)
    return GroupRoute(job, budget)


async def split(
    ctx: RuntimeContext,
    plan: GroupRoute,
    provider: object,
    model: str,
    ready: list[Prepared],
) -> tuple[list[Prepared], list[Prepared]]:
    """(through the batch, live); requests over budget are kept in ``plan.budget``."""
    if plan.job is None:
        return ready, []
    to_batch, to_live = await route(ctx, plan.job, provider, model, ready)
    return (
        await admit(ctx, plan.budget, model, to_batch, live=False),
        await admit(ctx, plan.budget, model, to_live, live=True),
    )


async def stop_over_budget(
    ctx: RuntimeContext, plan: GroupRoute, claimed: Mapping[str, ClaimedRun]
) -> set[str]:
    """End the runs whose request would pass the budget; returns those that ended."""
    stopped = plan.budget.stopped
    if not stopped:
        return set()
    plan.budget.stopped = []
    reason = plan.budget.reason(stopped[0].est_cost or 0.0)
    runs = [claimed[p.run_id] for p in stopped if p.run_id in claimed]
    return await fail_claimed(ctx, runs, reason, BUDGET_EXHAUSTED, stop_reason=BUDGET_EXHAUSTED)
