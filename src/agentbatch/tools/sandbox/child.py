"""The forked process that runs one tool call (stdlib only: runs inside the worker).

The warm worker forks a spare child ahead of each call (:func:`run_spare`), so the fork
is off the call's critical path. The child puts itself in a new session, points stdin at
``/dev/null`` and stdout/stderr at the capture pipe, closes every other inherited
descriptor and waits for its request. Then it moves into the call's fresh working
directory, applies the rlimits, sets the call's ``env`` as its whole environment, and only
then compiles and runs the tool source. The result travels back as one JSON document on
descriptor 3.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import sys
import types

# Only the standard library, and as little of it as possible: every module imported here
# is memory that each forked child maps (and pays for in fork and exit time).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

RESULT_FD = 3
REQUEST_FD = 4
SETUP_FAILED = 121
TOOL_MODULE = "__agentbatch_tool__"
TOOL_FILENAME = "<tool>"
RESERVED = ("agent_id", "memory")
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_MIB = 1024 * 1024
_MAX_FD = 65536
_ENVELOPE_ROOM = 4096  # below the worker's _RESULT_SLACK
# Set by a sandboxed worker that has no pids cgroup (see worker_main.main).
PROCESS_LIMIT_BY_RLIMIT = False


def _resolve_prctl() -> Any:
    """Look up ``prctl`` once in the worker, so forked children do not pay for it."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - every Linux libc has it
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _resolve_prctl()


def prepare_worker() -> None:
    """Do once, in the worker, what every forked child would otherwise redo.

    A forked child pays for every page it writes to (copy-on-write) and for every lazy
    initialisation: the first ``compile()`` in a process builds all the AST types, which
    alone costs more than the rest of a trivial call. So the worker runs one dummy tool
    through the same code paths, empties its own environment, and sets up the
    line-buffered text stream on descriptor 1 that the children inherit (the worker
    itself never prints; descriptor 1 is a copy of its stderr).
    """
    os.environ.clear()
    stream = open(  # noqa: SIM115 - lives as long as the process
        1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False
    )
    sys.stdout = sys.stderr = stream
    sys.argv = [TOOL_FILENAME]
    if _PRCTL is not None:
        # Not dumpable: other processes of the same user (other tools) cannot read this
        # worker's or its children's memory through /proc/<pid>/mem, environ, ptrace.
        _PRCTL(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    warmup = {
        "source": "def _warmup(x, agent_id, memory):\n    return [x, agent_id, memory]\n",
        "function": "_warmup",
        "arguments": {"x": "é"},
        "agent_id": "agent",
        "memory": {"label": "value"},
    }
    for _ in range(2):
        _call_tool(warmup, 1024)
        _encode({"ok": False, "error": "warm-up"})
    sys.modules.pop(TOOL_MODULE, None)


def run_spare(
    request_r: int, workdir: str, out_w: int, res_w: int, devnull: int, parent: int
) -> NoReturn:
    """Body of a freshly forked spare child; never returns.

    Before the call arrives, the child detaches (own session, dies with the worker),
    rewires its descriptors and measures its address space. Then it blocks until the
    worker writes the request on ``request_r`` and closes it; an empty request (the worker
    is stopping) ends the child. Then it applies the call's limits and environment, runs
    the tool and writes one JSON result on descriptor 3.
    """
    try:
        base_address_space = _detach(request_r, out_w, res_w, devnull, parent)
        data = _read_to_end(REQUEST_FD)
        if not data:
            os._exit(0)
        request = json.loads(data)
        limits = request["limits"]
        _apply_limits(workdir, limits, base_address_space)
        os.environ.update(request["env"])  # the worker emptied os.environ at start
    except BaseException:
        os._exit(SETUP_FAILED)
    memory_message = _encode(
        {"ok": False, "error": f"tool exceeded its memory limit ({limits['memory_mb']} MB)"}
    )
    try:
        payload = _call_tool(request, int(limits["max_output_bytes"]))
    except MemoryError:
        payload = memory_message
    except BaseException as exc:
        payload = _encode({"ok": False, "error": f"sandbox error: {_describe(exc)}"})
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
    try:
        _write_all(RESULT_FD, payload)
    except BaseException:
        os._exit(SETUP_FAILED)
    os._exit(0)


def _detach(request_r: int, out_w: int, res_w: int, devnull: int, parent: int) -> int:
    os.setsid()  # own process group: the worker kills the whole group afterwards
    if _PRCTL is not None:  # die with the worker, whatever happens to it
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(SETUP_FAILED)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    os.dup2(res_w, RESULT_FD)
    os.dup2(request_r, REQUEST_FD)
    os.closerange(REQUEST_FD + 1, _MAX_FD)
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _apply_limits(workdir: str, limits: dict[str, Any], base_address_space: int) -> None:
    os.close(REQUEST_FD)
    os.chdir(workdir)
    address_space = base_address_space + int(limits["memory_mb"]) * _MIB
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    cpu = int(limits["cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if PROCESS_LIMIT_BY_RLIMIT:
        # bubblewrap without a pids cgroup: the sandbox's own user namespace counts only
        # this worker's processes (bubblewrap's init, the worker, the call's)
        nproc = int(limits.get("max_processes", 64)) + 2
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def _read_to_end(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _call_tool(request: dict[str, Any], cap: int) -> bytes:
    try:
        function = _load_function(request["source"], request["function"])
        value = function(**_arguments(function, request))
        if isinstance(value, types.CoroutineType):
            import asyncio

            value = asyncio.run(value)
    except MemoryError:
        raise
    except BaseException as exc:
        _print_traceback(exc, request["source"])
        return _encode({"ok": False, "error": _describe(exc)})
    return _encode_value(value, cap)


def _load_function(source: str, name: str) -> Any:
    module = types.ModuleType(TOOL_MODULE)
    module.__file__ = TOOL_FILENAME
    sys.modules[TOOL_MODULE] = module
    exec(compile(source, TOOL_FILENAME, "exec"), module.__dict__)
    function = module.__dict__.get(name)
    if not callable(function):
        raise NameError(f"tool source defines no function {name!r}")
    return function


def _arguments(function: Any, request: dict[str, Any]) -> dict[str, Any]:
    kwargs = {k: v for k, v in request["arguments"].items() if k not in RESERVED}
    parameters = _parameter_names(function)
    if "agent_id" in parameters:
        kwargs["agent_id"] = request.get("agent_id")
    if "memory" in parameters:
        kwargs["memory"] = dict(request.get("memory") or {})
    return kwargs


def _parameter_names(function: Any) -> tuple[str, ...]:
    code = getattr(function, "__code__", None)
    if isinstance(code, types.CodeType):  # a plain function: no need to import inspect
        return code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    import inspect

    try:
        return tuple(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return ()


def _encode_value(value: Any, cap: int) -> bytes:
    try:
        text = json.dumps(value, ensure_ascii=False, default=_safe_repr)
    except Exception:  # circular structures, non-string keys, a failing __repr__
        text = json.dumps(_safe_repr(value), ensure_ascii=False)
    data = text.encode("utf-8", "backslashreplace")
    if len(data) <= cap:
        return b'{"ok":true,"value":' + data + b"}"
    # The cut JSON text travels as a JSON string: its quotes, backslashes and control
    # characters are escaped once more, which can double its size (or more). Shorten it
    # until the message fits what the worker reads (cap + _RESULT_SLACK in worker_main).
    head = data[:cap].decode("utf-8", "ignore")
    while True:
        message = _encode(
            {
                "ok": False,
                "value": head,
                "truncated": True,
                "error": f"tool return value too large ({len(data)} bytes serialised); "
                f"output truncated at {cap} bytes",
            }
        )
        if len(message) <= cap + _ENVELOPE_ROOM or not head:
            return message
        head = head[: max(0, len(head) * cap // len(message) - 64)]


def _print_traceback(exc: BaseException, source: str) -> None:
    """Print the traceback of the tool's exception, without the sandbox's own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != TOOL_FILENAME:
        tb = tb.tb_next
    try:
        import linecache
        import traceback

        linecache.cache[TOOL_FILENAME] = (len(source), None, source.splitlines(True), "")
        lines = traceback.format_exception(type(exc), exc, tb)
        sys.stderr.write("".join(lines))
    except Exception:
        pass


def _describe(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:
        message = ""
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode("utf-8", "backslashreplace")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
