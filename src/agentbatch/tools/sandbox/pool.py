"""A bounded pool of warm sandbox workers.

At most ``size`` calls run at once; further callers wait their turn. The pool holds at
most ``size`` worker processes. Each is tied to a :class:`WorkerKey` (interpreter and
network access): ``size`` workers of the default key are started by :meth:`start`;
a call that needs another key (a tool with requirements, or ``allow_network``) takes an
idle worker of that key, or replaces the longest-idle worker of another key.

A worker that dies, breaks the protocol or stops answering is killed and replaced while
the failing call still holds its slot, so the pool always returns to full strength.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import OrderedDict
from pathlib import Path
from types import TracebackType

from agentbatch.tools.sandbox.calls import SandboxCall, SandboxResult
from agentbatch.tools.sandbox.limits import SandboxLimits
from agentbatch.tools.sandbox.venvs import RequirementsError, VenvCache
from agentbatch.tools.sandbox.wire import encode_request
from agentbatch.tools.sandbox.worker import WorkerError, WorkerKey, WorkerProcess, default_python

logger = logging.getLogger(__name__)


class SandboxPool:
    """Run :class:`SandboxCall` s in warm, isolated worker processes."""

    def __init__(
        self,
        size: int | None = None,
        *,
        default_limits: SandboxLimits | None = None,
        venv_root: Path | None = None,
        python: str | None = None,
        grace_s: float = 5.0,
    ) -> None:
        self.size = size if size is not None else (os.cpu_count() or 1)
        if self.size < 1:
            raise ValueError(f"pool size must be at least 1, got {self.size}")
        self.default_limits = default_limits or SandboxLimits()
        self.venvs = VenvCache(venv_root)
        self._default_key = WorkerKey(python or default_python(), allow_network=False)
        self._grace_s = grace_s
        self._slots = asyncio.Semaphore(self.size)
        self._idle: OrderedDict[WorkerProcess, None] = OrderedDict()  # oldest first
        self._busy: set[WorkerProcess] = set()
        self._reserved = 0  # workers being started by a slot holder
        self._start_lock = asyncio.Lock()
        self._started = False
        self._closed = False

    async def __aenter__(self) -> SandboxPool:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def network_mode(self) -> str | None:
        """How the default workers cut tools off the network (see ``isolation.py``)."""
        for worker in [*self._idle, *self._busy]:
            if worker.key == self._default_key:
                return worker.network_mode
        return None

    async def start(self) -> None:
        """Start ``size`` warm workers (idempotent)."""
        async with self._start_lock:
            if self._closed:
                raise RuntimeError("sandbox pool is closed")
            if self._started:
                return
            spawned = await asyncio.gather(
                *(WorkerProcess.spawn(self._default_key) for _ in range(self.size)),
                return_exceptions=True,
            )
            workers = [w for w in spawned if isinstance(w, WorkerProcess)]
            errors = [e for e in spawned if isinstance(e, BaseException)]
            if errors:
                await asyncio.gather(*(w.kill() for w in workers))
                raise errors[0]
            for worker in workers:
                self._idle[worker] = None
            self._started = True
            logger.info(
                "sandbox pool started",
                extra={"size": self.size, "network": workers[0].network_mode},
            )

    async def close(self) -> None:
        """Stop every worker. A call still running gets its result if it ends within the
        workers' grace period (2 s), a failed result otherwise."""
        self._closed = True
        workers = [*self._idle, *self._busy]
        self._idle.clear()
        self._busy.clear()
        await asyncio.gather(*(worker.stop() for worker in workers), return_exceptions=True)

    async def run(self, call: SandboxCall) -> SandboxResult:
        """Run one call; never raises for anything the tool does."""
        if self._closed:
            raise RuntimeError("sandbox pool is closed")
        if not self._started:
            await self.start()
        problem = call.problem()
        if problem is not None:
            return SandboxResult.failure(f"invalid sandbox call: {problem}")
        limits = call.limits or self.default_limits
        python = self._default_key.python
        if call.requirements:
            try:
                python = str(await self.venvs.ensure(call.requirements))
            except RequirementsError as exc:
                return SandboxResult.failure(str(exc))
        key = WorkerKey(python, call.allow_network)
        try:
            body = json.dumps(call.to_wire(limits)).encode("ascii")
        except (TypeError, ValueError) as exc:
            return SandboxResult.failure(f"invalid sandbox call: {exc}")
        frame = encode_request({"limits": limits.to_wire()}, body)
        async with self._slots:
            return await self._run_in_slot(key, frame, limits)

    async def _run_in_slot(
        self, key: WorkerKey, frame: bytes, limits: SandboxLimits
    ) -> SandboxResult:
        started = time.monotonic()
        try:
            worker = await self._checkout(key)
        except WorkerError as exc:
            return SandboxResult.failure(str(exc), duration_s=time.monotonic() - started)
        try:
            reply = await worker.call(frame, limits.timeout_s + self._grace_s)
        except WorkerError as exc:
            logger.warning("sandbox worker replaced", extra={"pid": worker.pid, "error": str(exc)})
            self._busy.discard(worker)
            await worker.kill()
            await self._replace(key)
            return SandboxResult.failure(str(exc), duration_s=time.monotonic() - started)
        except BaseException:  # cancelled mid-call: the worker's state is unknown
            self._busy.discard(worker)
            await asyncio.shield(worker.kill())
            raise
        self._busy.discard(worker)
        if self._closed:
            await worker.stop()
        else:
            self._idle[worker] = None
        return SandboxResult.from_worker(reply.header, reply.output, reply.result)

    async def _checkout(self, key: WorkerKey) -> WorkerProcess:
        """An idle worker for ``key``: reuse, start a new one, or evict another key's."""
        for worker in list(self._idle):
            if worker.key == key:
                del self._idle[worker]
                if worker.alive:
                    self._busy.add(worker)
                    return worker
                await worker.kill()  # died while idle: start a fresh one below
        victim = None
        if len(self._idle) + len(self._busy) + self._reserved >= self.size and self._idle:
            victim = next(iter(self._idle))  # the longest idle
            del self._idle[victim]
        self._reserved += 1  # before any await: concurrent checkouts must see the count
        try:
            if victim is not None:
                await victim.stop()
            worker = await WorkerProcess.spawn(key)
        finally:
            self._reserved -= 1
        self._busy.add(worker)
        return worker

    async def _replace(self, key: WorkerKey) -> None:
        """Start a worker in place of a dead one, so the pool stays warm."""
        if self._closed:
            return
        self._reserved += 1
        try:
            worker = await WorkerProcess.spawn(key)
        except WorkerError as exc:
            logger.error("could not replace a sandbox worker", extra={"error": str(exc)})
            return
        finally:
            self._reserved -= 1
        if self._closed:
            await worker.stop()
        else:
            self._idle[worker] = None
