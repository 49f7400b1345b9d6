"""Finish jobs that have no active run: completed, or failed (with a summary of why) when
every run failed. The transition re-checks both conditions in its own transaction."""

from __future__ import annotations

import logging
from typing import Any

from agentbatch.domain.statuses import JobStatus
from agentbatch.runtime.context import RuntimeContext
from agentbatch.store import jobs

log = logging.getLogger(__name__)


async def finish_pass(ctx: RuntimeContext) -> list[str]:
    async with ctx.db.read() as conn:
        candidates = await jobs.finishable(conn)
    finished: list[str] = []
    for job_id in candidates:
        now = ctx.clock()

        async def txn(conn: Any, job_id: str = job_id, now: Any = now) -> JobStatus | None:
            return await jobs.finish(conn, job_id, now)

        status = await ctx.db.transact(txn)
        if status is not None:
            log.info("job %s %s", job_id, status.value, extra={"job_id": job_id})
            finished.append(job_id)
    return finished
