"""How a warm worker process is started: directly (the process sandbox) or in bubblewrap.

:func:`choose_launcher` picks one from the operator's setting (``AGENTBATCH_SANDBOX``):
``bwrap`` requires bubblewrap, ``process`` never uses it, ``auto`` (the default) uses it
when it works on this machine and falls back to the process sandbox with a warning.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from agentbatch.errors import ConfigError
from agentbatch.tools.sandbox.bwrap import (
    INSIDE_VENVS,
    INSIDE_WORKER,
    WORK_DIR,
    BwrapFeatures,
    base_args,
    base_python,
    probe,
    python_binds,
)
from agentbatch.tools.sandbox.cgroups import CgroupLayout

logger = logging.getLogger(__name__)

WORKER_SCRIPT = Path(__file__).with_name("worker_main.py")
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"
)


def _nothing() -> None:
    return None


@dataclass
class Launch:
    """A worker's command line, descriptors to pass, and what to undo when it ends."""

    args: list[str]
    pass_fds: tuple[int, ...] = ()
    preexec: Callable[[], None] | None = None
    started: Callable[[], None] = field(default=_nothing)  # after the process started
    cleanup: Callable[[], None] = field(default=_nothing)  # after it ended (blocking)


class WorkerSpec(Protocol):
    @property
    def python(self) -> str: ...

    @property
    def allow_network(self) -> bool: ...

    @property
    def venv(self) -> str | None: ...


class Launcher(Protocol):
    name: str

    def default_python(self) -> str: ...

    def launch(self, key: WorkerSpec) -> Launch: ...


class ProcessLauncher:
    """The worker runs as the runtime's user; it cuts itself off the network."""

    name = "process"

    def default_python(self) -> str:
        import sys

        return sys.executable

    def launch(self, key: WorkerSpec) -> Launch:
        # The runtime owns the directory that holds the calls' working directories, so it
        # is removed even when the worker is killed.
        root = tempfile.mkdtemp(prefix="agentbatch-sandbox-")
        args = [key.python, "-I", "-X", "utf8", str(WORKER_SCRIPT), "--root", root]
        if key.allow_network:
            args.append("--network")
        return Launch(args, cleanup=lambda: shutil.rmtree(root, ignore_errors=True))


class BwrapLauncher:
    """The worker runs in its own bubblewrap sandbox, with a call cgroup when possible."""

    name = "bwrap"

    def __init__(
        self,
        features: BwrapFeatures,
        cgroups: CgroupLayout | None,
        tmpfs_mb: int = 1024,
        network_allow: tuple[str, ...] = (),
    ) -> None:
        self.features = features
        self.cgroups = cgroups
        self.tmpfs_bytes = tmpfs_mb * 1024 * 1024
        self.network_allow = network_allow

    def default_python(self) -> str:
        return base_python()

    def launch(self, key: WorkerSpec) -> Launch:
        python = key.python
        binds: list[str | tuple[str, str]] = list(python_binds(python))
        if key.venv:  # at a fixed place inside: the host's path may be under /tmp
            venv = Path(key.venv)
            inside = f"{INSIDE_VENVS}/{venv.parent.name}/{venv.name}"
            binds.append((str(venv), inside))
            python = f"{inside}/{Path(key.python).relative_to(venv)}"
        args = base_args(
            self.features,
            binds=binds,
            allow_network=key.allow_network,
            tmpfs_bytes=self.tmpfs_bytes,
        )
        args += ["--", python, "-I", "-X", "utf8", INSIDE_WORKER, "--root", WORK_DIR]
        args.append("--sandboxed")
        if key.allow_network:
            args.append("--network")
            if self.network_allow:
                args += ["--allow-net", ",".join(self.network_allow)]
        if self.cgroups is None:
            return Launch(args)
        group = self.cgroups.create()
        args += ["--cgroup", group.worker_argument()]
        return Launch(
            args,
            pass_fds=tuple(group.pass_fds()),
            preexec=group.enter_worker if group.worker_procs is not None else None,
            started=group.close_fds,
            cleanup=group.remove,
        )


def choose_launcher(
    backend: str = "auto",
    *,
    bwrap: str = "bwrap",
    cgroup: str | None = None,
    tmpfs_mb: int = 1024,
    network_allow: tuple[str, ...] = (),
) -> tuple[Launcher, str]:
    """The launcher for ``backend``, and why bubblewrap is not used ("" when it is)."""
    if backend == "process":
        _warn_if_root()
        return ProcessLauncher(), "the process sandbox was chosen (AGENTBATCH_SANDBOX=process)"
    features, problem = probe(bwrap)
    if features is None:
        if backend == "bwrap":
            raise ConfigError(f"AGENTBATCH_SANDBOX=bwrap, but {problem}: {INSTALL_HINT}")
        logger.warning(
            "custom tools run in the process sandbox, WITHOUT file-system isolation: %s; "
            "%s (see docs/security.md)",
            problem,
            INSTALL_HINT,
        )
        _warn_if_root()
        return ProcessLauncher(), problem
    layout, why = CgroupLayout.detect(cgroup)
    if layout is None:
        logger.warning(
            "bubblewrap sandbox without cgroups (%s): memory and process limits hold per "
            "process only",
            why,
        )
    return BwrapLauncher(features, layout, tmpfs_mb, network_allow), ""


def _warn_if_root() -> None:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        logger.error(
            "the process sandbox runs custom tools as root: a tool can signal (kill) every "
            "root process on this machine and read every file; install bubblewrap or run "
            "the worker as an unprivileged user (docs/security.md)"
        )
