"""Run users' custom Python tools in isolated, warm subprocesses (Linux).

How a call runs: :class:`SandboxPool` keeps at most ``size`` warm worker processes, started
once and reused, one organisation per worker; at most ``size`` calls run at once (and at
most ``org_concurrency`` of one organisation) and further callers wait. Each worker keeps
one child ``fork()`` ed ahead, so a call costs no interpreter start and no fork latency.
The child puts itself in a new session, applies the limits, moves into a new empty
working directory, sets its environment, and only then compiles and runs the tool. The
worker watches the clock and the output, kills the child's process group when a limit is
passed, and removes the working directory. A worker that dies or hangs is replaced, and
the call's result says ``sandbox_crashed``.

Two sandboxes (``backend``, ``launchers.py``; docs/security.md compares them):

* **bubblewrap** (``bwrap.py``, ``cgroups.py``, ``callgroup.py``), the default where it
  works: each worker runs in its own bubblewrap sandbox (read-only minimal root, the
  tool's own read-only virtual environment, tmpfs ``/tmp`` and working directory, new
  user/PID/IPC/UTS/network namespaces, uid 65534 without capabilities), and each call in
  the worker's call cgroup (memory and processes of the whole call). After each call every
  other process of the sandbox is killed and ``/tmp`` and ``/dev/shm`` are emptied.
* **process** (``isolation.py``): the worker is a plain process of the runtime's user. It
  cuts itself off the network (``SandboxPool.network_mode``: ``userns+netns``, ``netns``
  or ``audit-hook``), but the file system, process count and memory across processes are
  not limited. An authenticated server refuses it (``ToolExecutor.require_isolation``).

Enforced in both:

* **Environment**: the tool sees exactly ``SandboxCall.env``.
* **Working directory**: a fresh, empty, private directory per call, removed afterwards.
* **Wall clock** (``timeout_s``): the child's process group is killed (``SIGKILL``).
* **CPU** (``cpu_s``): ``RLIMIT_CPU``.
* **Memory** (``memory_mb``): ``RLIMIT_AS`` = the worker's own address space plus
  ``memory_mb`` (larger allocations raise ``MemoryError``: ``tool exceeded its memory
  limit (N MB)``); in bubblewrap also the call cgroup's limit on all its processes.
* **Output** (``max_output_bytes``): stdout+stderr are captured; past the cap the child is
  killed and the call fails with ``output truncated at N bytes``. A return value whose JSON
  is larger than the cap fails the call, with the truncated JSON text as ``value``.
* **Crashes**: ``os._exit``, signals and segfaults end only the child; the result says how
  it died. Children die with their worker (``PR_SET_PDEATHSIG``).
* **Other calls' data**: a worker handles call data as opaque bytes in buffers it zeroes
  after every call, so a later tool (which inherits the worker's memory through
  ``fork()``) cannot find earlier calls' arguments, environment, memory blocks or output.
  Workers and tools are not dumpable (``PR_SET_DUMPABLE``).
* **Network** (``allow_network=False``, the default): off. With ``allow_network`` a
  bubblewrap tool reaches public addresses only (a Python-level guard, see
  ``isolation.guard_public_network``); a process-sandbox tool reaches anything.
* **Requirements** (``requirements.py``, ``pip_run.py``, ``venvs.py``): PEP 508 names and
  version specifiers only, wheels only (pip in an empty directory), one read-only
  environment per organisation and canonical requirement set, a bounded number of them
  per organisation, each of bounded size.
"""

from agentbatch.tools.sandbox.calls import SandboxCall, SandboxResult
from agentbatch.tools.sandbox.limits import SandboxLimits
from agentbatch.tools.sandbox.pool import SandboxPool
from agentbatch.tools.sandbox.venvs import RequirementsError, VenvCache

__all__ = [
    "RequirementsError",
    "SandboxCall",
    "SandboxLimits",
    "SandboxPool",
    "SandboxResult",
    "VenvCache",
]
