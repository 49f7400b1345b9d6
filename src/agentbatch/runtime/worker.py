"""The worker loop: submit, poll (+apply), finish, recover; sleep when idle.

Several workers may share one PostgreSQL database: every piece of work is claimed with a
lease, and every state change is one transaction. ``run_until`` drives a job to completion
in-process (the Python API and tests use it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from agentbatch.domain.statuses import JOB_TERMINAL
from agentbatch.runtime.callbacks import callback_pass
from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.finish import finish_pass, recover_pass
from agentbatch.runtime.poll import poll_pass
from agentbatch.runtime.submit import submit_pass
from agentbatch.store import jobs_repo

log = logging.getLogger(__name__)

JobHook = Callable[[list[str]], Awaitable[None]]


class Worker:
    def __init__(self, ctx: RuntimeContext, on_finished: JobHook | None = None) -> None:
        self.ctx = ctx
        self.on_finished = on_finished
        self._stop = asyncio.Event()
        self._last_recovery: datetime | None = None

    def stop(self) -> None:
        self._stop.set()

    async def tick(self) -> int:
        """One round of every pass; returns how much work it found."""
        work = await submit_pass(self.ctx)
        work += await poll_pass(self.ctx)
        finished = await finish_pass(self.ctx)
        if finished and self.on_finished is not None:
            await self.on_finished(finished)
        work += len(finished)
        work += await callback_pass(self.ctx)
        now = self.ctx.clock()
        if self._last_recovery is None or (now - self._last_recovery).total_seconds() >= (
            self.ctx.settings.recover_interval_s
        ):
            # recovery looks over every closed batch: only crashes leave work for it, and a
            # dead worker's leases take ``lease_s`` to expire, so every tick would be waste
            self._last_recovery = now
            work += await recover_pass(self.ctx)
        return work

    async def run(self) -> None:
        log.info("worker %s started", self.ctx.owner)
        while not self._stop.is_set():
            try:
                work = await self.tick()
            except Exception:
                log.exception("worker pass failed; retrying after a pause")
                work = 0
                await self._idle(max(self.ctx.settings.idle_sleep_s, 1.0))
                continue
            if not work:
                await self._idle(self.ctx.settings.idle_sleep_s)
        log.info("worker %s stopped", self.ctx.owner)

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def run_until(self, job_id: str, *, timeout_s: float | None = None) -> str:
        """Drive the loop until ``job_id`` ends; returns its final status."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while True:
            work = await self.tick()
            async with self.ctx.db.read() as conn:
                row = await jobs_repo.get_job_row(conn, None, job_id)
            if row is None:
                raise LookupError(job_id)
            if row.status in JOB_TERMINAL:
                return str(row.status)
            if deadline is not None and loop.time() > deadline:
                raise TimeoutError(f"job {job_id} still {row.status} after {timeout_s}s")
            if not work:
                await self.ctx.sleep(self.ctx.settings.idle_sleep_s)
