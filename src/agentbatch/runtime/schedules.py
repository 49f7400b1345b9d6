"""The schedule pass: due schedules create their jobs, each fire exactly once.

Every worker reads the due schedules; for each, one transaction claims the fire (the
schedule's ``next_fire_at`` moves on only if it still names the fire time this worker
read) and, only if the claim moved it, creates the fire's job and records the fire. Of
several workers that saw the same fire, one creates the job and the others change
nothing. Agents still busy from an earlier fire are left out and counted; a fire whose
agents are all busy (or match none) records that and creates no job. Fires missed while
no worker ran follow the schedule's policy (``domain.cron.plan_fire``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agentbatch.domain.cron import plan_fire
from agentbatch.domain.templates import compile_template
from agentbatch.errors import UserError
from agentbatch.ids import new_id
from agentbatch.runtime.context import RuntimeContext
from agentbatch.services.job_builder import Built, JobValues, insert_selected, resolve_criteria
from agentbatch.store import schedules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fired:
    schedule_id: str
    fire_at: datetime
    job_id: str | None
    selected: int
    skipped_busy: int
    missed: int
    error: str | None


async def schedule_pass(ctx: RuntimeContext, limit: int = 20) -> int:
    """Fire every due schedule (up to ``limit``); returns how many fires this worker made."""
    now = ctx.clock()
    async with ctx.db.read() as conn:
        due = await schedules.due(conn, now, limit)
    made = 0
    for row in due:
        await ctx.hooks.fire("schedule_due", schedule_id=row.id, fence=row.fence)
        fired = await fire(ctx, row, now)
        if fired is not None:
            made += 1
            log.info(
                "schedule %s fired for %s: job %s (%d agents, %d busy skipped, %d missed)%s",
                fired.schedule_id,
                fired.fire_at.isoformat(),
                fired.job_id,
                fired.selected,
                fired.skipped_busy,
                fired.missed,
                f"; {fired.error}" if fired.error else "",
            )
    return made


async def fire(ctx: RuntimeContext, row: Any, now: datetime) -> Fired | None:
    """Claim and make one due fire; None when another worker made it (or it was paused)."""
    try:
        plan = plan_fire(
            row.cron,
            row.timezone,
            due_at=_aware(row.next_fire_at),
            now=now,
            policy=row.missed,
            grace=timedelta(seconds=row.grace_s),
        )
    except ValueError as exc:  # a stored expression that no longer parses: never fire it
        log.warning("schedule %s cannot be planned: %s", row.id, exc)
        return None
    job: dict[str, Any] = dict(row.job)

    async def txn(conn: Any) -> Fired | None:
        claimed = await schedules.claim_fire(
            conn,
            row.id,
            read_next=row.next_fire_at,
            fence=row.fence,
            next_fire_at=plan.next_fire_at,
            fired_at=plan.fire_at,
            now=now,
        )
        if not claimed:
            return None
        built, error = Built(None, 0, 0), None
        if plan.fire_at is not None:
            try:
                async with conn.begin_nested():  # a failed build leaves no rows behind
                    built = await _build(conn, row, job, now)
            except UserError as exc:
                error = str(exc)[:1000]
        fired = Fired(
            row.id,
            plan.latest,
            built.job_id,
            built.selected,
            built.skipped_busy,
            plan.missed,
            error,
        )
        await schedules.insert_fire(
            conn,
            {
                "id": new_id("fire"),
                "schedule_id": row.id,
                "org_id": row.org_id,
                "fire_at": plan.latest,
                "job_id": built.job_id,
                "selected": built.selected,
                "skipped_busy": built.skipped_busy,
                "missed": plan.missed,
                "error": error,
                "created_at": now,
            },
        )
        return fired

    return await ctx.db.transact(txn)


async def _build(conn: Any, row: Any, job: dict[str, Any], now: datetime) -> Built:
    deadline_s = job.get("deadline_s")
    values = JobValues(
        org_id=row.org_id,
        max_steps=int(job["max_steps"]),
        max_attempts=int(job["max_attempts"]),
        options=dict(job.get("options") or {}),
        metadata=dict(job.get("metadata") or {}),
        callback_url=job.get("callback_url"),
        deadline_at=now + timedelta(seconds=float(deadline_s)) if deadline_s else None,
        max_cost_usd=job.get("max_cost_usd"),
        schedule_id=row.id,
    )
    target: dict[str, Any] = dict(row.target)
    criteria = await resolve_criteria(
        conn, row.org_id, target.get("agents"), target.get("selector")
    )
    try:
        template = compile_template(job["messages"])
    except ValueError as exc:
        raise UserError(f"messages: {exc}") from None
    return await insert_selected(
        conn, values, criteria, template, now, skip_busy=True, strict_ids=False
    )


def _aware(value: datetime) -> datetime:
    from agentbatch.ids import as_utc

    out = as_utc(value)
    assert out is not None
    return out
