"""A warm sandbox worker: reads calls, forks a child per call, supervises it.

Run as a script (``python -I -X utf8 worker_main.py [--root DIR] [--network]
[--sandboxed [--cgroup V,MEM_FD,PIDS_FD]]``) by the interpreter of the runtime or of a
tool's virtual environment: it uses the standard library only and loads its siblings
(``child.py``, ``spare.py``, ``isolation.py``, ``wire.py``, ``callgroup.py``,
``../../net_guard.py``) by
path, so nothing of agentbatch has to be installed where it runs.

``--sandboxed``: the worker runs inside bubblewrap (see ``bwrap.py``), alone in its PID
namespace with bubblewrap's init. Per call it then also sets the call cgroup's limits and
moves the child into it, and afterwards kills every other process of the namespace and
empties ``/tmp`` and ``/dev/shm``; a worker that cannot clean up asks to be retired
(``"retire"`` in the response header) and the runtime replaces it.

Protocol on the worker's stdin/stdout: see ``wire.py``. The worker first sends a hello
(``{"hello": true, "network": mode, ...}``), then answers each request with one response.
The forked children never see these pipes.

The worker keeps one *spare* child forked ahead (with its fresh working directory), so a
call does not wait for ``fork()``. Per call it hands the request to the spare, then
enforces what the child cannot enforce on itself: the wall-clock timeout and the output
caps, by killing the child's whole process group (``SIGKILL``). It reaps the child, reads
why it ended (result document, signal, exit code, CPU time), removes the working directory
and forks the next spare while the runtime reads the response.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import os
import select
import signal
import sys
import time

TYPE_CHECKING = False  # no `typing` at run time: see child.py


def _load_sibling(name: str, relative: str = "") -> ModuleType:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), relative, f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_agentbatch_sandbox_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

    from agentbatch.tools.sandbox import callgroup, child, isolation, wire
    from agentbatch.tools.sandbox.spare import Spare
else:
    child = _load_sibling("child")
    isolation = _load_sibling("isolation")
    wire = _load_sibling("wire")
    callgroup = _load_sibling("callgroup")
    spare_module = _load_sibling("spare")
    Spare = spare_module.Spare

SHARED_DIRS = ("/tmp", "/dev/shm")  # emptied after each call in bubblewrap
_RESULT_SLACK = 8192  # room for the JSON envelope around a value of max_output_bytes


class Worker:
    """The worker's state: its spare child and the buffers that hold call data."""

    def __init__(
        self,
        root: str,
        devnull: int,
        *,
        sandboxed: bool = False,
        group: callgroup.CallGroup | None = None,
    ) -> None:
        self.root = root
        self.devnull = devnull
        self.sandboxed = sandboxed
        self.group = group
        self.request = wire.WipedBuffer()
        self.output = wire.WipedBuffer()
        self.result = wire.WipedBuffer()
        self.spare: Spare | None = self.fork()

    def fork(self) -> Spare:
        return Spare.fork(self.root, self.devnull, self.group)

    def run(self, limits: dict[str, Any], body: memoryview) -> dict[str, Any]:
        """Run one call; return the response header (the data stays in the buffers)."""
        cap = int(limits["max_output_bytes"])
        timeout = float(limits["timeout_s"])
        self.output.reserve(cap + 1)
        self.result.reserve(cap + _RESULT_SLACK + 1)
        before = (0, 0)
        if self.group is not None:
            try:
                self.group.set_limits(int(limits["memory_mb"]), int(limits["max_processes"]))
            except OSError as exc:
                return {"error": f"sandbox could not set the call's limits ({exc})", "retire": True}
            before = self.group.counters()
        started = time.monotonic()
        spare, self.spare = self.spare or self.fork(), None
        if not spare.hand_over(body):
            spare.finish(self.sandboxed)
            spare = self.fork()
            if not spare.hand_over(body):
                spare.finish(self.sandboxed)
                return {"error": "sandbox could not start the tool process"}
        try:
            problem = self._collect(spare, started + timeout, cap)
        finally:
            status, usage, clean = spare.finish(self.sandboxed)
        header: dict[str, Any] = {"duration_s": time.monotonic() - started}
        if self.sandboxed and not (clean and all(wipe_shared())):
            header["retire"] = True  # leftovers: the runtime starts a fresh sandbox
        if problem == "timeout":
            header["error"] = f"tool timed out after {timeout:g} s"
        elif problem == "output":
            header.update(truncated=True, error=f"output truncated at {cap} bytes")
            self.output.truncate(cap)
        elif problem == "result":
            header["error"] = "tool wrote too much data on the result channel"
        elif not self.result.filled:
            header["error"] = _death(status, usage.ru_utime + usage.ru_stime, limits)
            if self.group is not None:
                after = self.group.counters()
                header["error"] = callgroup.limit_message(before, after, limits) or header["error"]
        if "error" in header:
            self.result.wipe()
        return header

    def _collect(self, spare: Spare, deadline: float, cap: int) -> str | None:
        """Read the child's pipes until it exits: None, "timeout", "output" or "result"."""
        pidfd = os.pidfd_open(spare.pid)
        streams = {
            spare.out_r: (self.output, cap, "output"),
            spare.res_r: (self.result, cap + _RESULT_SLACK, "result"),
        }
        poller = select.poll()
        for fd in (spare.out_r, spare.res_r, pidfd):
            poller.register(fd, select.POLLIN)
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "timeout"
                for fd, _ in poller.poll(remaining * 1000 + 1):
                    ready = list(streams) if fd == pidfd else [fd]
                    for pipe in ready:  # after the exit: take what is left, then stop
                        buffer, limit, name = streams[pipe]
                        if _drain(pipe, buffer, limit, poller):
                            return name
                    if fd == pidfd:
                        return None
        finally:
            os.close(pidfd)

    def wipe(self) -> None:
        self.request.wipe()
        self.output.wipe()
        self.result.wipe()


def wipe_shared() -> list[bool]:
    """Empty the directories every call of a sandboxed worker shares (whether each is)."""
    return [callgroup.wipe(path, keep=True) for path in SHARED_DIRS if os.path.isdir(path)]


def _drain(fd: int, buffer: wire.WipedBuffer, limit: int, poller: select.poll) -> bool:
    """Read what is available; True when the buffer went past ``limit``."""
    while True:
        try:
            count = buffer.read_available(fd, limit)
        except BlockingIOError:
            return False
        if buffer.filled > limit:
            return True
        if count == 0:
            with contextlib.suppress(KeyError):
                poller.unregister(fd)
            return False


def _death(status: int, cpu: float, limits: dict[str, Any]) -> str:
    """Why a child ended without writing a result."""
    cpu_limit = int(limits["cpu_s"])
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number == signal.SIGXCPU or (number == signal.SIGKILL and cpu >= cpu_limit):
            return f"tool exceeded its CPU time limit ({cpu_limit} s)"
        name = signal.Signals(number).name if number in signal.valid_signals() else "?"
        return f"tool process died (signal {number}: {name})"
    code = os.waitstatus_to_exitcode(status)
    if code == child.SETUP_FAILED:
        return "sandbox could not set up the tool process"
    return f"tool process died (exit code {code}) without a result"


def serve(worker: Worker, proto_in: int, proto_out: int) -> None:
    """Answer requests until the runtime closes the pipe."""
    prefix = wire.WipedBuffer(wire.REQUEST_PREFIX.size)
    while prefix.read_exact(proto_in, wire.REQUEST_PREFIX.size):
        head_size, body_size = wire.REQUEST_PREFIX.unpack(prefix.view())
        if head_size > wire.MAX_HEADER or body_size > wire.MAX_BODY:
            raise ValueError("oversized request")
        if not worker.request.read_exact(proto_in, head_size + body_size):
            return
        data = worker.request.view()
        try:
            limits = json.loads(bytes(data[:head_size]))["limits"]
            header = worker.run(limits, data[head_size:])
        except Exception as exc:  # a bug here must not take the worker down
            header = {"error": f"sandbox worker error: {exc.__class__.__name__}: {exc}"}
        del data
        output, result = worker.output.view(), worker.result.view()
        start = wire.encode_header(header, len(output), len(result))
        wire.write_all(proto_out, start, output, result)
        del output, result
        worker.wipe()
        if worker.spare is None:
            worker.spare = worker.fork()  # while the runtime reads


def main(argv: list[str]) -> int:
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # stray prints in the worker must not corrupt the protocol
    sandboxed = "--sandboxed" in argv
    group = None
    if sandboxed:
        if os.getpid() > 3:  # the sweep after each call kills every other process it sees
            raise SystemExit("--sandboxed needs a PID namespace of its own (bubblewrap)")
        group = callgroup.from_argument(argv)
        child.PROCESS_LIMIT_BY_RLIMIT = group is None or not group.limits_processes
        if "--network" in argv:
            allow = argv[argv.index("--allow-net") + 1] if "--allow-net" in argv else ""
            isolation.guard_public_network(
                _load_sibling("net_guard", "../.."), [a for a in allow.split(",") if a]
            )
            mode = "bwrap+network"
        else:
            isolation.block_network()
            mode = "bwrap"
    else:
        mode = "allowed" if "--network" in argv else isolation.isolate_network()
    own_root = "--root" not in argv
    if own_root:
        import tempfile

        root = tempfile.mkdtemp(prefix="agentbatch-sandbox-")
    else:
        root = argv[argv.index("--root") + 1]
    child.prepare_worker()
    worker = Worker(root, devnull, sandboxed=sandboxed, group=group)
    try:
        hello = {
            "hello": True,
            "pid": os.getpid(),
            "network": mode,
            "python": sys.version,
            "cgroup": 0 if group is None else group.version,
        }
        wire.write_all(proto_out, wire.encode_header(hello))
        serve(worker, proto_in, proto_out)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
    finally:
        if worker.spare is not None:
            worker.spare.discard()
        if own_root:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
