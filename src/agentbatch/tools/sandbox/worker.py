"""The runtime's handle on one warm worker process (see ``worker_main.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

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
        return self._process.returncode is None

    async def call(self, frame: bytes, reply_within_s: float) -> WorkerReply:
        """Send one request frame (``wire.encode_request``) and return the reply.

        Raises :class:`WorkerError` when the worker dies or does not answer in time.
        """
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(frame)
            await stdin.drain()
            return await asyncio.wait_for(_read_reply(self._process), reply_within_s)
        except TimeoutError:
            raise WorkerError(
                f"sandbox worker stopped answering (no reply in {reply_within_s:g} s)"
            ) from None
        except (ConnectionError, BrokenPipeError) as exc:
            raise WorkerError(f"sandbox worker died ({exc.__class__.__name__})") from exc

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


def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()


def default_python() -> str:
    """The interpreter for tools without requirements: the runtime's own."""
    return sys.executable
