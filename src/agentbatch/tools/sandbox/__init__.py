"""Run users' custom Python tools in isolated, warm subprocesses (Linux).

How a call runs: :class:`SandboxPool` keeps ``size`` warm worker processes, started once
and reused; at most ``size`` calls run at once and further callers wait. Each worker keeps
one child ``fork()`` ed ahead, so a call costs no interpreter start and no fork latency.
The child puts itself in a new session, applies the limits, moves into a new empty
working directory, sets its environment, and only then compiles and runs the tool. The
worker watches the clock and the output, kills the child's process group when a limit is
passed, and removes the working directory. A worker that dies or hangs is replaced.

Enforced:

* **Environment**: the tool sees exactly ``SandboxCall.env``. Workers start with an
  empty environment (plus ``MALLOC_ARENA_MAX``), so nothing of the runtime's
  (``AGENTBATCH_DATABASE_URL``, API keys) reaches them.
* **Working directory**: a fresh, empty, private temporary directory per call, removed
  afterwards (also when the worker is killed).
* **Wall clock** (``timeout_s``): the child's process group is killed (``SIGKILL``),
  including the processes the tool started.
* **CPU** (``cpu_s``): ``RLIMIT_CPU``.
* **Memory** (``memory_mb``): ``RLIMIT_AS`` = the worker's own address space plus
  ``memory_mb``; larger allocations raise ``MemoryError`` in the tool, reported as
  ``tool exceeded its memory limit (N MB)``. This bounds *virtual* memory: libraries that
  reserve much address space (many threads, OpenBLAS, JIT runtimes) need more than their
  resident use.
* **Output** (``max_output_bytes``): stdout+stderr are captured; past the cap the child is
  killed and the call fails with ``output truncated at N bytes``. A return value whose JSON
  is larger than the cap fails the call, with the truncated JSON text as ``value``.
* **Crashes**: ``os._exit``, signals and segfaults end only the child; the result says how
  it died. A tool that kills its worker gets a failed result and the worker is replaced.
  Children die with their worker (``PR_SET_PDEATHSIG``).
* **Other calls' data**: a worker handles call data as opaque bytes in buffers it zeroes
  after every call, so a later tool (which inherits the worker's memory through
  ``fork()``) cannot find earlier calls' arguments, environment, memory blocks or output.
  Workers and tools are not dumpable (``PR_SET_DUMPABLE``): other tools cannot read their
  memory or environment through ``/proc``.
* **Network** (``allow_network=False``, the default): each worker cuts itself off when it
  starts, and ``SandboxPool.network_mode`` says how (see
  :mod:`agentbatch.tools.sandbox.isolation`):

  - ``"userns+netns"``: a new user namespace owning an empty network namespace. The
    strongest mode, the usual one on Linux hosts; it also keeps a tool from reading the
    runtime's ``/proc/<pid>/environ`` or raising its rlimits, even when the runtime runs
    as root.
  - ``"netns"``: a new network namespace only (root where user namespaces are disabled);
    a tool running as root could leave it.
  - ``"audit-hook"``: neither namespace is permitted (for example Docker's default seccomp
    profile). Only a Python audit hook refuses IP sockets, ``connect``/``bind`` and name
    resolution: native code (``ctypes``, C extensions) and subprocesses (``curl``) can
    still reach the network.

  In every mode the audit hook also refuses connecting to Unix sockets (a database's,
  Docker's); socket pairs (``asyncio``) keep working. Loopback is down inside the
  namespace.

Not enforced:

* The file system: the tool runs as the runtime's OS user and can read and write what
  that user can (outside the namespaces' reach). In ``netns``/``audit-hook`` mode that
  includes ``/proc/<runtime pid>/environ``. Run the runtime as a dedicated user, or in a
  container, when tools are untrusted. Disk usage is not limited.
* Processes: their number is not limited, and a process that leaves the call's process
  group (``setsid``) survives the call.
* Requirements are installed by pip outside the sandbox (see
  :mod:`agentbatch.tools.sandbox.venvs`).
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
