"""The worker loop: submit, poll (+apply), tool steps, cleanup, finish, callbacks, recover;
sleep when idle.

Several workers may share one PostgreSQL database: every piece of work is claimed with a
lease, and every state change is one guarded transaction. ``run_until`` drives a job to
completion in-process (the Python API and tests use it). A pass that fails (the database
is down, the disk is full) is retried after a back-off that doubles up to a minute, with
one log line per back-off, not a traceback per second."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from agentbatch.domain.statuses import JOB_TERMINAL
from agentbatch.runtime.callbacks import callback_pass
from agentbatch.runtime.cleanup import cleanup_pass
from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.deadlines import deadline_pass
from agentbatch.runtime.finish import finish_pass
from agentbatch.runtime.poll import poll_pass
from agentbatch.runtime.recover import recover_pass
from agentbatch.runtime.schedules import schedule_pass
from agentbatch.runtime.submit import submit_pass
from agentbatch.runtime.tool_steps import ToolSteps
from agentbatch.store import jobs

log = logging.getLogger(__name__)

JobHook = Callable[[list[str]], Awaitable[None]]
MAX_BACKOFF_S = 60.0


class Worker:
    def __init__(self, ctx: RuntimeContext, on_finished: JobHook | None = None) -> None:
        self.ctx = ctx
        self.on_finished = on_finished
        self.tool_steps = ToolSteps(ctx)
        self._stop = asyncio.Event()
        self._last_recovery: datetime | None = None
        self._failures = 0

    def stop(self) -> None:
        self._stop.set()

    async def _pass(self, name: str, run: Callable[[RuntimeContext], Awaitable[int]]) -> int:
        """One pass, timed (and traced when it found work) by the observer."""
        with self.ctx.observe.worker_pass(name) as info:
            info.chunk_size = self.ctx.settings.chunk_size
            info.work = await run(self.ctx)
        return info.work

    async def tick(self) -> int:
        """One round of every pass; returns how much work it found."""
        work = await self._pass("schedules", schedule_pass)
        work += await self._pass("submit", submit_pass)
        work += await self._pass("poll", poll_pass)
        work += await self._pass("deadlines", deadline_pass)
        work += await self._pass("tools", lambda _ctx: self.tool_steps.tick())
        work += await self._pass("cleanup", cleanup_pass)
        finished: list[str] = []

        async def finish(ctx: RuntimeContext) -> int:
            finished.extend(await finish_pass(ctx))
            return len(finished)

        work += await self._pass("finish", finish)
        if finished:
            await self.ctx.observe.jobs_ended(self.ctx.db, finished)
            if self.on_finished is not None:
                await self.on_finished(finished)
        work += await self._pass("callbacks", callback_pass)
        now = self.ctx.clock()
        if self._last_recovery is None or (now - self._last_recovery).total_seconds() >= (
            self.ctx.settings.recover_interval_s
        ):
            # recovery looks for a dead worker's leftovers: its leases take ``lease_s`` to
            # expire, so looking on every tick would be waste
            self._last_recovery = now
            work += await self._pass("recover", recover_pass)
        return work

    async def run(self) -> None:
        log.info("worker %s started", self.ctx.owner)
        try:
            while not self._stop.is_set():
                try:
                    work = await self.tick()
                except Exception as exc:
                    await self._back_off(exc)
                    continue
                if self._failures:
                    log.info("worker recovered after %d failed passes", self._failures)
                    self._failures = 0
                if not work:
                    await self._idle(self.ctx.settings.idle_sleep_s)
        finally:
            await self.tool_steps.aclose()
        log.info("worker %s stopped", self.ctx.owner)

    async def _back_off(self, exc: Exception) -> None:
        self._failures += 1
        base = max(self.ctx.settings.idle_sleep_s, 1.0)
        delay = min(MAX_BACKOFF_S, base * 2 ** (self._failures - 1))
        if self._failures == 1:
            log.exception("worker pass failed; retrying in %.0fs", delay)
        else:
            log.warning(
                "worker pass failed again (%d in a row: %s: %s); retrying in %.0fs",
                self._failures,
                type(exc).__name__,
                str(exc)[:200],
                delay,
            )
        await self._idle(delay)

    async def _idle(self, seconds: float) -> None:
        """Sleep until ``seconds`` pass, the worker stops or a tool step finishes."""
        waits = [asyncio.ensure_future(self._stop.wait())]
        if self.tool_steps.running:
            waits.append(asyncio.ensure_future(self.tool_steps.finished.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
        self.tool_steps.finished.clear()

    async def run_until(self, job_id: str, *, timeout_s: float | None = None) -> str:
        """Drive the loop until ``job_id`` ends; returns its final status."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        try:
            while True:
                work = await self.tick()
                async with self.ctx.db.read() as conn:
                    status = await jobs.status(conn, job_id)
                if status is None:
                    raise LookupError(job_id)
                if status in JOB_TERMINAL:
                    await self.tool_steps.drain()  # other jobs' tool steps finish first
                    return status
                if deadline is not None and loop.time() > deadline:
                    raise TimeoutError(f"job {job_id} still {status} after {timeout_s}s")
                if not work:
                    if self.tool_steps.running:
                        await self._idle(self.ctx.settings.idle_sleep_s)
                    else:
                        await self.ctx.sleep(self.ctx.settings.idle_sleep_s)
        except BaseException:
            await self.tool_steps.aclose()
            raise
