"""A bounded pool of warm sandbox workers.

At most ``size`` calls run at once; further callers wait their turn. With
``org_concurrency``, one organisation runs at most that many calls at once, so the
others always find free slots. The pool holds at most ``size`` worker processes. Each is
tied to a :class:`WorkerKey` (organisation, interpreter or virtual environment, network
access): ``size`` workers of the default key are started by :meth:`start`; a call that
needs another key takes an idle worker of that key, or replaces the longest-idle worker
of another key. A worker never serves two organisations.

Workers run in bubblewrap or as plain processes (see ``launchers.py``; ``backend``).
A worker that dies, breaks the protocol or stops answering is killed and replaced while
the failing call still holds its slot, so the pool always returns to full strength; that
call's result has ``sandbox_crashed`` set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import Counter, OrderedDict
from pathlib import Path
from types import TracebackType

from agentbatch.tools.sandbox.calls import SandboxCall, SandboxResult
from agentbatch.tools.sandbox.launchers import Launcher, choose_launcher
from agentbatch.tools.sandbox.limits import SandboxLimits
from agentbatch.tools.sandbox.slots import OrgSlots
from agentbatch.tools.sandbox.venvs import RequirementsError, VenvCache
from agentbatch.tools.sandbox.wire import encode_request
from agentbatch.tools.sandbox.worker import WorkerError, WorkerKey, WorkerProcess

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
        backend: str = "auto",
        org_concurrency: int | None = None,
        bwrap: str = "bwrap",
        cgroup: str | None = None,
        network_allow: tuple[str, ...] = (),
        launcher: Launcher | None = None,
        venvs: VenvCache | None = None,
    ) -> None:
        self.size = size if size is not None else (os.cpu_count() or 1)
        if self.size < 1:
            raise ValueError(f"pool size must be at least 1, got {self.size}")
        if org_concurrency is not None and org_concurrency < 1:
            raise ValueError(f"org_concurrency must be at least 1, got {org_concurrency}")
        self.default_limits = default_limits or SandboxLimits()
        self.org_concurrency = org_concurrency
        self._venv_users: Counter[str] = Counter()  # environment -> calls using it
        self._stopping: set[asyncio.Future[None]] = set()
        self.venvs = venvs or VenvCache(venv_root)
        self.venvs.in_use = lambda: tuple(self._venv_users)  # never removed while in use
        self.venvs.on_evict = self._retire_venv
        self._python = python
        self._backend = backend
        self._bwrap = bwrap
        self._cgroup = cgroup
        self._network_allow = network_allow
        self._launcher = launcher
        self.isolation_problem = ""  # why bubblewrap is not used ("" when it is)
        self._default_key: WorkerKey | None = None
        self._grace_s = grace_s
        self._slots = asyncio.Semaphore(self.size)
        self._org_slots = OrgSlots(org_concurrency)
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
    def backend(self) -> str | None:
        """``"bwrap"`` or ``"process"`` once started."""
        return None if self._launcher is None else self._launcher.name

    @property
    def network_mode(self) -> str | None:
        """How the default workers cut tools off the network (``bwrap`` in bubblewrap;
        else see ``isolation.py``)."""
        for worker in [*self._idle, *self._busy]:
            if worker.key == self._default_key:
                return worker.network_mode
        return None

    @property
    def cgroup_version(self) -> int:
        """1 or 2 when calls run in per-call cgroups, else 0."""
        for worker in [*self._idle, *self._busy]:
            return worker.cgroup_version
        return 0

    def worker_pids(self) -> list[int]:
        """Host process ids of the workers (for bubblewrap: the ``bwrap`` processes)."""
        return [worker.pid for worker in [*self._idle, *self._busy]]

    def _resolve_launcher(self) -> Launcher:
        if self._launcher is None:
            tmpfs_mb = max(self.default_limits.memory_mb, 256)
            self._launcher, self.isolation_problem = choose_launcher(
                self._backend,
                bwrap=self._bwrap,
                cgroup=self._cgroup,
                tmpfs_mb=tmpfs_mb,
                network_allow=self._network_allow,
            )
        return self._launcher

    async def start(self) -> None:
        """Start ``size`` warm workers (idempotent)."""
        async with self._start_lock:
            if self._closed:
                raise RuntimeError("sandbox pool is closed")
            if self._started:
                return
            launcher = await asyncio.to_thread(self._resolve_launcher)
            self._default_key = WorkerKey(self._python or launcher.default_python())
            spawned = await asyncio.gather(
                *(self._spawn(self._default_key) for _ in range(self.size)),
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
                extra={
                    "size": self.size,
                    "backend": launcher.name,
                    "network": workers[0].network_mode,
                    "cgroup": workers[0].cgroup_version,
                },
            )

    async def _spawn(self, key: WorkerKey) -> WorkerProcess:
        return await WorkerProcess.spawn(key, self._launcher)

    async def close(self) -> None:
        """Stop every worker. A call still running gets its result if it ends within the
        workers' grace period (2 s), a failed result otherwise."""
        self._closed = True
        workers = [*self._idle, *self._busy]
        self._idle.clear()
        self._busy.clear()
        stops = [*(worker.stop() for worker in workers), *self._stopping]
        await asyncio.gather(*stops, return_exceptions=True)

    async def run(self, call: SandboxCall) -> SandboxResult:
        """Run one call; never raises for anything the tool does."""
        if self._closed:
            raise RuntimeError("sandbox pool is closed")
        if not self._started:
            await self.start()
        assert self._default_key is not None
        problem = call.problem()
        if problem is not None:
            return SandboxResult.failure(f"invalid sandbox call: {problem}")
        limits = call.limits or self.default_limits
        try:
            body = json.dumps(call.to_wire(limits)).encode("ascii")
        except (TypeError, ValueError) as exc:
            return SandboxResult.failure(f"invalid sandbox call: {exc}")
        frame = encode_request({"limits": limits.to_wire()}, body)
        python, venv = self._default_key.python, None
        if call.requirements:
            try:
                venv = str(self.venvs.location(call.requirements, call.org_id))
                self._venv_users[venv] += 1  # before the build may remove others
                python = str(await self.venvs.ensure(call.requirements, call.org_id))
            except RequirementsError as exc:
                self._release_venv(venv)
                return SandboxResult.failure(str(exc))
        key = WorkerKey(python, call.allow_network, call.org_id, venv)
        try:
            async with self._org_slots.slot(call.org_id), self._slots:
                return await self._run_in_slot(key, frame, limits)
        finally:
            self._release_venv(venv)

    def _release_venv(self, venv: str | None) -> None:
        if venv is not None and venv in self._venv_users:
            self._venv_users[venv] -= 1
            if self._venv_users[venv] <= 0:
                del self._venv_users[venv]

    def _retire_venv(self, venv: str) -> None:
        """An environment was removed: its idle workers go (the busy ones cannot have it)."""
        for worker in [w for w in self._idle if w.key.venv == venv]:
            del self._idle[worker]
            task = asyncio.ensure_future(worker.stop())
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

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
            return SandboxResult.failure(
                f"the tool crashed its sandbox: {exc}",
                duration_s=time.monotonic() - started,
                sandbox_crashed=True,
            )
        except BaseException:  # cancelled mid-call: the worker's state is unknown
            self._busy.discard(worker)
            await asyncio.shield(worker.kill())
            raise
        self._busy.discard(worker)
        if reply.header.get("retire"):  # it could not clean up after the call
            await worker.stop()
            await self._replace(key)
        elif self._closed:
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
            worker = await self._spawn(key)
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
            worker = await self._spawn(key)
        except WorkerError as exc:
            logger.error("could not replace a sandbox worker", extra={"error": str(exc)})
            return
        finally:
            self._reserved -= 1
        if self._closed:
            await worker.stop()
        else:
            self._idle[worker] = None
