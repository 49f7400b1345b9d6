"""The spare child a warm worker keeps forked ahead of each call (stdlib only: runs in
the worker, loaded by path like its siblings; see ``worker_main.py``)."""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import signal
import sys

TYPE_CHECKING = False  # no `typing` at run time: see child.py


def _sibling(name: str) -> ModuleType:
    """The sibling module ``worker_main`` loaded already (or load it by path)."""
    key = f"_agentbatch_sandbox_{name}"
    if key in sys.modules:
        return sys.modules[key]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(key, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

    from agentbatch.tools.sandbox import callgroup, child, wire
else:
    child = _sibling("child")
    wire = _sibling("wire")
    callgroup = _sibling("callgroup")

_call_numbers = itertools.count()


class Spare:
    """A forked child that waits for its request (see ``child.run_spare``)."""

    __slots__ = ("out_r", "pid", "request_w", "res_r", "workdir")

    def __init__(self, pid: int, request_w: int, out_r: int, res_r: int, workdir: str) -> None:
        self.pid = pid
        self.request_w = request_w
        self.out_r = out_r
        self.res_r = res_r
        self.workdir = workdir

    @classmethod
    def fork(cls, root: str, devnull: int, group: callgroup.CallGroup | None = None) -> Spare:
        workdir = os.path.join(root, f"call-{next(_call_numbers)}")  # root is private
        os.mkdir(workdir, 0o700)
        request_r, request_w = os.pipe()
        out_r, out_w = os.pipe()
        res_r, res_w = os.pipe()
        worker_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            child.run_spare(request_r, workdir, out_w, res_w, devnull, worker_pid)
        for fd in (request_r, out_w, res_w):
            os.close(fd)
        if group is not None:
            try:
                group.enter(pid)  # before the request: the tool starts inside its limits
            except OSError:
                os.close(request_w)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise
        os.set_blocking(out_r, False)
        os.set_blocking(res_r, False)
        return cls(pid, request_w, out_r, res_r, workdir)

    def hand_over(self, body: memoryview) -> bool:
        """Send the request; False when the spare is gone (killed while waiting)."""
        try:
            wire.write_all(self.request_w, body)
        except BrokenPipeError:
            return False
        finally:
            os.close(self.request_w)
        return True

    def finish(self, sweep: bool = False) -> tuple[int, Any, bool]:
        """Kill what is left of the call (its process group; with ``sweep``, every other
        process of the sandbox), reap, remove the working directory. The last value is
        False when something could not be cleaned up."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # the child and anything it started
        _, status, usage = os.wait4(self.pid, 0)
        os.close(self.out_r)
        os.close(self.res_r)
        clean = not sweep or callgroup.kill_strays({os.getpid()})
        try:
            os.rmdir(self.workdir)  # the usual case: the tool left nothing behind
        except OSError:
            clean = callgroup.wipe(self.workdir) and clean
        return status, usage, clean

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.request_w)  # the waiting child reads EOF and exits
        self.finish()
