"""Cgroups for sandboxed workers (host side): find the hierarchy, make one group per worker.

Each bubblewrap worker gets a *call group* that holds the process of the call it runs
(and everything that process starts); the worker sets the group's memory and process
limits per call (see ``callgroup.py``). The groups live under a base group:

* cgroup v2 (one unified hierarchy, ``/sys/fs/cgroup/cgroup.controllers`` exists):
  ``<base>/<worker>/worker`` holds the worker (moved there before bubblewrap starts) and
  ``<base>/<worker>/call`` the call; ``memory`` and ``pids`` are enabled for both.
  The base defaults to ``/agentbatch-sandbox`` at the root (the runtime must be root or
  own a delegated group: set ``AGENTBATCH_SANDBOX_CGROUP``).
* cgroup v1 (a hierarchy per controller, as on many container hosts): ``<base>/<worker>``
  in the ``memory`` and the ``pids`` hierarchies; the worker stays where the runtime is.
  The base defaults to ``agentbatch-sandbox`` inside the runtime's own group of each
  hierarchy.

``AGENTBATCH_SANDBOX_CGROUP`` is a path relative to each hierarchy's root. When no
usable hierarchy is found, or groups cannot be created, the sandbox runs without them
(``CgroupLayout.detect`` says why) and falls back to per-process limits.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
DEFAULT_BASE = "agentbatch-sandbox"
_CONTROLLERS = ("memory", "pids")
_names = itertools.count()


@dataclass(frozen=True, slots=True)
class CgroupLayout:
    """Where worker groups are made: ``bases`` maps ``memory``/``pids`` (v1) or
    ``unified`` (v2) to the base group's directory."""

    version: int
    bases: dict[str, Path]

    @classmethod
    def detect(cls, configured: str | None = None) -> tuple[CgroupLayout | None, str]:
        """The layout, or (None, why there is none)."""
        try:
            layout = _find(configured)
        except OSError as exc:
            return None, f"cannot read the cgroup configuration: {exc}"
        if isinstance(layout, str):
            return None, layout
        try:
            layout._prepare()
            probe = layout.create()
            probe.remove()
        except OSError as exc:
            return None, f"cannot create cgroups under {layout.describe()}: {exc}"
        layout._remove_stale()
        return layout, ""

    def describe(self) -> str:
        return ", ".join(str(p) for p in self.bases.values())

    def create(self) -> WorkerCgroup:
        return WorkerCgroup(self, f"{os.getpid()}-{next(_names)}")

    def _prepare(self) -> None:
        for base in self.bases.values():
            base.mkdir(parents=True, exist_ok=True)
        if self.version == 2:
            base = self.bases["unified"]
            if base.parent == CGROUP_ROOT:
                _enable_controllers(CGROUP_ROOT)
            _enable_controllers(base)

    def _remove_stale(self) -> None:
        """Groups left by runtimes that died (their process id is gone)."""
        for base in self.bases.values():
            for entry in base.iterdir():
                pid = entry.name.split("-", 1)[0]
                if entry.is_dir() and pid.isdigit() and not _alive(int(pid)):
                    _remove_tree(entry)


def _find(configured: str | None) -> CgroupLayout | str:
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        available = (CGROUP_ROOT / "cgroup.controllers").read_text().split()
        missing = [c for c in _CONTROLLERS if c not in available]
        if missing:
            return f"the cgroup v2 hierarchy lacks the {', '.join(missing)} controller"
        relative = (configured or f"/{DEFAULT_BASE}").strip("/")
        return CgroupLayout(2, {"unified": CGROUP_ROOT / relative})
    mounts = _v1_mounts()
    own = _own_v1_groups()
    bases: dict[str, Path] = {}
    for controller in _CONTROLLERS:
        mount = mounts.get(controller)
        if mount is None:
            continue
        if configured:
            bases[controller] = mount / configured.strip("/")
        else:
            bases[controller] = mount / own.get(controller, "/").strip("/") / DEFAULT_BASE
    if not bases:
        return "no memory or pids cgroup controller is mounted"
    return CgroupLayout(1, bases)


def _v1_mounts() -> dict[str, Path]:
    found: dict[str, Path] = {}
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) < 4 or fields[2] != "cgroup":
                continue
            for option in fields[3].split(","):
                if option in _CONTROLLERS:
                    found[option] = Path(fields[1])
    return found


def _own_v1_groups() -> dict[str, str]:
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as groups:
        for line in groups:
            parts = line.strip().split(":", 2)
            if len(parts) == 3:
                for controller in parts[1].split(","):
                    own[controller] = parts[2]
    return own


def _enable_controllers(group: Path) -> None:
    control = group / "cgroup.subtree_control"
    enabled = control.read_text().split()
    wanted = " ".join(f"+{c}" for c in _CONTROLLERS if c not in enabled)
    if wanted:
        control.write_text(wanted)


class WorkerCgroup:
    """One worker's groups: created at once, handed to the worker as open directories."""

    def __init__(self, layout: CgroupLayout, name: str) -> None:
        self.version = layout.version
        self.name = name
        self._dirs: list[Path] = []  # every directory made, parents first
        self.fds: dict[str, int] = {}  # "memory"/"pids" -> call group directory
        self.worker_procs: Path | None = None  # v2: where the worker process goes
        try:
            if layout.version == 2:
                group = layout.bases["unified"] / name
                self._mkdir(group)
                _enable_controllers(group)
                self._mkdir(group / "worker")
                self._mkdir(group / "call")
                self.worker_procs = group / "worker" / "cgroup.procs"
                fd = _open_dir(group / "call")
                self.fds = {"memory": fd, "pids": fd}
            else:
                for controller, base in layout.bases.items():
                    self._mkdir(base / name)
                    self.fds[controller] = _open_dir(base / name)
        except BaseException:
            self.remove()
            raise

    def _mkdir(self, path: Path) -> None:
        path.mkdir()
        self._dirs.append(path)

    def pass_fds(self) -> list[int]:
        return sorted(set(self.fds.values()))

    def worker_argument(self) -> str:
        """``--cgroup VERSION,MEMORY_FD,PIDS_FD`` for ``worker_main`` (``-`` when absent)."""
        memory = self.fds.get("memory")
        pids = self.fds.get("pids")
        return f"{self.version},{'-' if memory is None else memory},{'-' if pids is None else pids}"

    def enter_worker(self) -> None:
        """Move the calling process into the worker group (v2, from ``preexec_fn``)."""
        if self.worker_procs is not None:
            with open(self.worker_procs, "w") as procs:
                procs.write("0")

    def close_fds(self) -> None:
        for fd in set(self.fds.values()):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = {}

    def remove(self) -> None:
        """Kill what is left in the groups and remove them (best effort)."""
        self.close_fds()
        for path in reversed(self._dirs):
            _remove_group(path)
        self._dirs = []


def _open_dir(path: Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY)


def _remove_tree(path: Path) -> None:
    for child in path.iterdir():
        if child.is_dir():
            _remove_tree(child)
    _remove_group(path)


def _remove_group(path: Path, attempts: int = 50) -> None:
    for _ in range(attempts):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            _kill_members(path)
            time.sleep(0.01)
    logger.warning("could not remove the sandbox cgroup %s", path)


def _kill_members(path: Path) -> None:
    with contextlib.suppress(OSError):
        for line in (path / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
                os.kill(int(line), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
