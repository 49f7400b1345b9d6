"""Per-call resource control inside a bubblewrap worker (stdlib only: runs in the worker).

The runtime gives each sandboxed worker one *call cgroup* of its own (see ``cgroups.py``)
as open directory descriptors: cgroup v1 has one directory per controller (``memory``,
``pids``), v2 one directory with both. The cgroup file system itself is not mounted in
the sandbox, and the forked tool processes close these descriptors before any tool code
runs, so only the worker can change the limits.

Per call the worker sets the call's limits (total memory of all its processes, tmpfs
files included; number of processes and threads), moves the freshly forked child into
the group, and afterwards reads the group's event counters to tell an out-of-memory kill
or a refused fork apart from other deaths. Every process the call started is killed when
it ends (:func:`kill_strays`): the worker's PID namespace holds only bubblewrap's init,
the worker and the call's processes.
"""

from __future__ import annotations

import contextlib
import os
import signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

_MIB = 1024 * 1024


class CallGroup:
    """The worker's call cgroup: limits, membership and event counters."""

    def __init__(self, version: int, memory_fd: int | None, pids_fd: int | None) -> None:
        self.version = version
        self._memory_fd = memory_fd
        self._pids_fd = pids_fd
        self._limits: tuple[int, int] | None = None
        if version == 1:
            self._memory_limit = ["memory.limit_in_bytes"]
            if memory_fd is not None and _exists(memory_fd, "memory.memsw.limit_in_bytes"):
                self._memory_limit.append("memory.memsw.limit_in_bytes")
            self._memory_events, self._oom_key = "memory.oom_control", "oom_kill"
        else:
            self._memory_limit = ["memory.max"]
            self._memory_events, self._oom_key = "memory.events", "oom_kill"
            if memory_fd is not None and _exists(memory_fd, "memory.swap.max"):
                _write(memory_fd, "memory.swap.max", "0")

    @property
    def limits_memory(self) -> bool:
        return self._memory_fd is not None

    @property
    def limits_processes(self) -> bool:
        return self._pids_fd is not None

    def set_limits(self, memory_mb: int, max_processes: int) -> None:
        """Apply the call's limits (skipped when they did not change)."""
        wanted = (int(memory_mb), int(max_processes))
        if wanted == self._limits:
            return
        if self._memory_fd is not None:
            value = str(wanted[0] * _MIB)
            raising = self._limits is not None and wanted[0] > self._limits[0]
            # v1: memsw (memory + swap) may never be below memory: raise it first, lower it
            # last (the group starts unlimited, so the first setting lowers both)
            order = reversed(self._memory_limit) if raising else self._memory_limit
            for name in order:
                _write(self._memory_fd, name, value)
        if self._pids_fd is not None:
            _write(self._pids_fd, "pids.max", str(wanted[1]))
        self._limits = wanted

    def enter(self, pid: int) -> None:
        """Move ``pid`` (a process of this PID namespace) into the call group."""
        text = str(pid)
        for fd in _unique(self._memory_fd, self._pids_fd):
            _write(fd, "cgroup.procs", text)

    def counters(self) -> tuple[int, int]:
        """(out-of-memory kills, refused forks) so far; compare before and after a call."""
        oom = refused = 0
        if self._memory_fd is not None:
            oom = _counter(self._memory_fd, self._memory_events, self._oom_key)
        if self._pids_fd is not None:
            refused = _counter(self._pids_fd, "pids.events", "max")
        return oom, refused


def from_argument(argv: list[str]) -> CallGroup | None:
    """The group given as ``--cgroup VERSION,MEMORY_FD,PIDS_FD`` (``-``: none), if any."""
    if "--cgroup" not in argv:
        return None
    version, memory, pids = argv[argv.index("--cgroup") + 1].split(",")
    return CallGroup(
        int(version), None if memory == "-" else int(memory), None if pids == "-" else int(pids)
    )


def limit_message(before: tuple[int, int], after: tuple[int, int], limits: dict[str, Any]) -> str:
    """Which limit ended a call whose process died without a result ("" if none)."""
    if after[0] > before[0]:
        return f"tool exceeded its memory limit ({limits['memory_mb']} MB)"
    if after[1] > before[1]:
        return f"tool process died after reaching its process limit ({limits['max_processes']})"
    return ""


def _unique(*fds: int | None) -> list[int]:
    out: list[int] = []
    for fd in fds:
        if fd is not None and fd not in out:
            out.append(fd)
    return out


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd)
    except OSError:
        return False
    return True


def _write(dir_fd: int, name: str, value: str) -> None:
    fd = os.open(name, os.O_WRONLY, dir_fd=dir_fd)
    try:
        os.write(fd, value.encode("ascii"))
    finally:
        os.close(fd)


def _counter(dir_fd: int, name: str, key: str) -> int:
    try:
        fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    except OSError:
        return 0
    try:
        text = os.read(fd, 4096).decode("ascii", "replace")
    finally:
        os.close(fd)
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
            return int(parts[1])
    return 0


def kill_strays(keep: Iterable[int], rounds: int = 200) -> bool:
    """SIGKILL every process of this PID namespace except ``keep`` (and PID 1); True
    when none is left. Repeats until then (a process may fork while a pass runs; the
    call's process limit bounds how often). Zombies are left to PID 1, which reaps them."""
    spared = {1, *keep}
    for _ in range(rounds):
        alive = [pid for pid in _pids() if pid not in spared and not _zombie(pid)]
        if not alive:
            return True
        for pid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        os.sched_yield()
    return False


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return True  # gone
    return bool(fields) and fields[0] in (b"Z", b"X")


def wipe(path: str, keep: bool = False) -> bool:
    """Remove ``path`` and everything in it (``keep``: only its content), whatever the
    tool did to the permissions. False when something is left."""
    stack, made = [path], []
    try:
        while stack:
            directory = stack.pop()
            with contextlib.suppress(OSError):
                os.chmod(directory, 0o700)
            for entry in os.scandir(directory):
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    made.append(entry.path)
                else:
                    os.unlink(entry.path)
        for directory in reversed(made):
            os.rmdir(directory)
        if not keep:
            os.rmdir(path)
    except OSError:
        return False
    return True
