"""Finish jobs with no unfinished run; recover work a dead worker left behind."""

from __future__ import annotations

import logging
from typing import Any

from agentbatch.domain.statuses import BatchStatus, JobStatus
from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.settle import settle_batch_items, settle_unanswered
from agentbatch.store import jobs_repo
from agentbatch.store import runtime_repo as rr

log = logging.getLogger(__name__)


async def finish_pass(ctx: RuntimeContext) -> list[str]:
    async with ctx.db.read() as conn:
        candidates = await rr.finishable_jobs(conn)
    finished: list[str] = []
    for job_id in candidates:
        now = ctx.clock()

        async def txn(conn: Any, job_id: str = job_id, now: Any = now) -> JobStatus | None:
            if await rr.finishable_jobs_check(conn, job_id):
                counts = (await jobs_repo.run_counts(conn, [job_id]))[job_id]
                total = sum(counts.values())
                status = (
                    JobStatus.FAILED
                    if total and counts.get("failed", 0) == total
                    else JobStatus.COMPLETED
                )
                await rr.set_job_status(conn, job_id, status, now)
                return status
            return None

        status = await ctx.db.transact(txn)
        if status is not None:
            log.info("job %s %s", job_id, status.value)
            finished.append(job_id)
    return finished


async def recover_pass(ctx: RuntimeContext) -> int:
    """Batches stuck in ``submitting`` past their lease (the worker died before or during the
    provider call) cost their items an attempt; items stranded in closed batches settle."""
    now = ctx.clock()
    async with ctx.db.read() as conn:
        stale = await rr.stale_submitting_batches(conn, now)
        stranded = await rr.stranded_item_batches(conn)
    for batch_id in stale:
        await settle_batch_items(ctx, batch_id, "submission was interrupted", BatchStatus.FAILED)
    for batch_id in stranded:
        await settle_unanswered(ctx, batch_id, "the provider returned no result for this item")
    return len(stale) + len(stranded)
