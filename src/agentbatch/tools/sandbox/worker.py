"""The runtime's handle on one warm worker process (see ``worker_main.py``).

A worker that dies mid-call (a tool may kill it) is noticed at once: the handle watches
the worker process itself through a pidfd, not only the end of its pipe, which another
process may hold open (bubblewrap's init while a stray process of the call lives on, or
whatever started the worker), so such a call fails now, not when its timeout runs out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import psutil

from agentbatch.tools.sandbox.launchers import Launch, Launcher, ProcessLauncher
from agentbatch.tools.sandbox.wire import MAX_BODY, MAX_HEADER, RESPONSE_PREFIX

logger = logging.getLogger(__name__)

# The worker's own environment (the tools get exactly their call's ``env``). glibc's
# per-thread malloc arenas reserve 64 MB of address space each, which would eat a
# tool's RLIMIT_AS as soon as it starts threads.
_WORKER_ENV = {"MALLOC_ARENA_MAX": "2"}


class WorkerError(Exception):
    """The worker died, broke the protocol or stopped answering; it must be replaced."""


@dataclass(frozen=True, slots=True)
class WorkerKey:
    """Which kind of worker a call needs: interpreter, network access, organisation and
    virtual environment. Workers are never shared between organisations."""

    python: str
    allow_network: bool = False
    org_id: str | None = None
    venv: str | None = None


class WorkerProcess:
    """One warm worker: send a request, await its response; one call at a time."""

    def __init__(
        self,
        key: WorkerKey,
        process: asyncio.subprocess.Process,
        hello: dict[str, Any],
        launch: Launch,
    ) -> None:
        self.key = key
        self._process = process
        self._launch = launch
        self.pid = process.pid
        self.network_mode = str(hello.get("network", "unknown"))
        self.cgroup_version = int(hello.get("cgroup") or 0)
        self._pidfd = _watch(process.pid, hello.get("pid"))

    @classmethod
    async def spawn(
        cls, key: WorkerKey, launcher: Launcher | None = None, *, startup_timeout: float = 30.0
    ) -> WorkerProcess:
        """Start a worker and wait for its hello."""
        launch = (launcher or ProcessLauncher()).launch(key)
        try:
            process = await asyncio.create_subprocess_exec(
                *launch.args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=None,
                env=dict(_WORKER_ENV),
                start_new_session=True,  # the terminal's Ctrl-C goes to the runtime only
                pass_fds=launch.pass_fds,
                preexec_fn=launch.preexec,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            await asyncio.to_thread(launch.cleanup)
            raise WorkerError(f"sandbox worker did not start ({key.python}): {exc}") from exc
        finally:
            launch.started()
        try:
            hello = (await asyncio.wait_for(_read_reply(process), startup_timeout)).header
        except (TimeoutError, WorkerError, ValueError) as exc:
            _kill(process)
            await process.wait()
            await asyncio.to_thread(launch.cleanup)
            raise WorkerError(f"sandbox worker did not start ({key.python}): {exc!r}") from exc
        worker = cls(key, process, hello, launch)
        logger.debug(
            "sandbox worker started",
            extra={"pid": worker.pid, "python": key.python, "network": worker.network_mode},
        )
        return worker

    @property
    def alive(self) -> bool:
        if self._process.returncode is not None:
            return False
        return self._pidfd is None or not select.select([self._pidfd], [], [], 0)[0]

    async def call(self, frame: bytes, reply_within_s: float) -> WorkerReply:
        """Send one request frame (``wire.encode_request``) and return the reply.

        Raises :class:`WorkerError` when the worker dies or does not answer in time.
        """
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(frame)
            await stdin.drain()
        except (ConnectionError, BrokenPipeError) as exc:
            raise WorkerError(f"sandbox worker died ({exc.__class__.__name__})") from exc
        loop = asyncio.get_running_loop()
        reading = asyncio.ensure_future(_read_reply(self._process))
        died: asyncio.Future[None] = loop.create_future()
        if self._pidfd is not None:
            loop.add_reader(self._pidfd, _settle, died)
        try:
            waits: set[asyncio.Future[Any]] = {reading, died}
            done, _ = await asyncio.wait(
                waits, timeout=reply_within_s, return_when=asyncio.FIRST_COMPLETED
            )
            if reading in done:
                return reading.result()
            if died in done:
                raise WorkerError("sandbox worker died (its process ended mid-call)")
            raise WorkerError(
                f"sandbox worker stopped answering (no reply in {reply_within_s:g} s)"
            )
        finally:
            if self._pidfd is not None:
                loop.remove_reader(self._pidfd)
            reading.cancel()

    async def stop(self, grace: float = 2.0) -> None:
        """Close the worker's stdin (it exits after its current call), then kill it."""
        stdin = self._process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), grace)
        except TimeoutError:
            _kill(self._process)
            await self._process.wait()
        await self._remove_root()

    async def kill(self) -> None:
        _kill(self._process)
        with contextlib.suppress(ProcessLookupError):
            await self._process.wait()
        await self._remove_root()

    async def _remove_root(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        await asyncio.to_thread(self._launch.cleanup)


@dataclass(frozen=True, slots=True)
class WorkerReply:
    """A response: the worker's header, the child's raw output and raw result document."""

    header: dict[str, Any]
    output: bytes = b""
    result: bytes = b""


async def _read_reply(process: asyncio.subprocess.Process) -> WorkerReply:
    stdout = process.stdout
    assert stdout is not None
    try:
        prefix = await stdout.readexactly(RESPONSE_PREFIX.size)
        head_size, output_size, result_size = RESPONSE_PREFIX.unpack(prefix)
        if head_size > MAX_HEADER or output_size + result_size > MAX_BODY:
            raise WorkerError("sandbox worker sent an oversized response")
        header = json.loads(await stdout.readexactly(head_size))
        output = await stdout.readexactly(output_size)
        result = await stdout.readexactly(result_size)
    except asyncio.IncompleteReadError as exc:
        await asyncio.sleep(0)  # let the transport record the exit status
        code = process.returncode
        raise WorkerError(f"sandbox worker died (exit status {code})") from exc
    if not isinstance(header, dict):
        raise WorkerError("sandbox worker sent a header that is not a JSON object")
    return WorkerReply(header, output, result)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _watch(root_pid: int, worker_pid: object) -> int | None:
    """A pidfd of the worker process: ``root_pid`` (the process started) or, in a PID
    namespace, its descendant that is ``worker_pid`` there (the pid of its hello, sent
    before any tool ran). None where it cannot be found (no pidfds, no /proc)."""
    if not isinstance(worker_pid, int) or not hasattr(os, "pidfd_open"):
        return None
    try:
        candidates = [root_pid, *(p.pid for p in psutil.Process(root_pid).children(True))]
    except psutil.Error:
        return None
    for pid in candidates:
        try:
            with open(f"/proc/{pid}/status") as status:
                nspids = next((ln.split()[1:] for ln in status if ln.startswith("NSpid:")), [])
            if nspids and int(nspids[-1]) == worker_pid:
                return os.pidfd_open(pid)
        except (OSError, ValueError):
            continue
    return None


def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()


def default_python() -> str:
    """The interpreter for tools without requirements: the runtime's own."""
    return sys.executable
