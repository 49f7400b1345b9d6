"""The bubblewrap command line of a sandboxed worker, and whether bubblewrap works here.

A worker runs inside ``bwrap`` with:

* a new mount namespace whose root is an empty tmpfs holding only, read-only: ``/usr``
  (and the ``/bin``, ``/lib*`` links of a merged-/usr system), a few files of ``/etc``
  (the dynamic linker's cache, time zone, public TLS certificates; name resolution files
  only for tools with network access), the Python installation, the tool's own virtual
  environment (at ``/opt/venvs/...``), and the sandbox's own scripts at
  ``/opt/agentbatch``;
* a new ``/proc`` (of the new PID namespace; its kernel tunables, ``/proc/sys`` and the
  like, read-only), a minimal ``/dev``, and fresh tmpfs
  ``/tmp`` and ``/work`` (the calls' working directories), each capped in size: with
  ``/dev/shm``, the only places a tool can write (the root itself is read-only);
* new user (the worker and tools run as uid/gid 65534, with no capabilities, and may not
  create further user namespaces where bubblewrap supports ``--disable-userns``), PID,
  IPC, UTS and network namespaces (the host's network namespace only for tools with
  ``allow_network``); ``--die-with-parent`` and ``--new-session``;
* an empty environment.

Nothing else of the host is visible: no ``AGENTBATCH_HOME``, database file, ``/run``
(database and Docker sockets), host ``/tmp``, ``/home``, ``/root`` or ``/var``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

logger = logging.getLogger(__name__)

SANDBOX_UID = 65534
SANDBOX_DIR = Path(__file__).resolve().parent  # src/agentbatch/tools/sandbox
PACKAGE_DIR = SANDBOX_DIR.parent.parent  # src/agentbatch
INSIDE_PACKAGE = "/opt/agentbatch"
INSIDE_WORKER = f"{INSIDE_PACKAGE}/tools/sandbox/worker_main.py"
INSIDE_VENVS = "/opt/venvs"
WORK_DIR = "/work"
_SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Public files only: never /etc/ssl/private or /etc/pki/tls/private.
_ETC_ALWAYS = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/localtime",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
    "/etc/ca-certificates",
    "/etc/pki/tls/certs",
    "/etc/pki/ca-trust",
    "/etc/mime.types",
)
_ETC_NETWORK = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/protocols",
    "/etc/services",
)


# Kernel interfaces in /proc that are not namespaced and whose permission check is only
# the file's owner and mode: when the runtime runs as root, the sandbox's uid maps to
# host root (without any capability), which owns them. Read-only, like Docker does.
# (/proc/sys holds e.g. kernel.modprobe and kernel.core_pattern; network sysctls are
# looked up in the reader's own network namespace either way.)
_PROC_READ_ONLY = (
    "sys",
    "sysrq-trigger",
    "irq",
    "bus",
    "fs",
    "mtrr",
    "acpi",
    "scsi",
    "driver",
    "tty",
    "asound",
    "keys",
    "kcore",
    "timer_list",
    "latency_stats",
    "sched_debug",
)


@dataclass(frozen=True, slots=True)
class BwrapFeatures:
    """What the installed bubblewrap supports."""

    path: str
    disable_userns: bool
    size: bool


def find_bwrap(configured: str = "bwrap") -> str | None:
    """The bubblewrap executable (``AGENTBATCH_BWRAP``, else ``bwrap`` on PATH)."""
    if os.sep in configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which(configured) or (
        "/usr/bin/bwrap" if os.access("/usr/bin/bwrap", os.X_OK) else None
    )


@lru_cache(maxsize=8)
def probe(configured: str = "bwrap") -> tuple[BwrapFeatures | None, str]:
    """(features, "") when bubblewrap can start a sandbox here, else (None, why not).

    Runs a tiny sandbox once per process: bubblewrap may be installed and still fail (no
    unprivileged user namespaces, a container's seccomp profile)."""
    if not sys.platform.startswith("linux"):
        return None, "bubblewrap needs Linux"
    path = find_bwrap(configured)
    if path is None:
        return None, "bubblewrap (bwrap) is not installed"
    try:
        helptext = subprocess.run(
            [path, "--help"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"bubblewrap could not run: {exc}"
    features = BwrapFeatures(
        path=path, disable_userns="--disable-userns" in helptext, size="--size" in helptext
    )
    python = base_python()
    args = [
        *base_args(features, binds=python_binds(python), allow_network=False),
        "--",
        python,
        "-I",
        "-c",
        "import os; assert os.getuid() == 65534",
    ]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"bubblewrap could not run: {exc}"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"bubblewrap cannot create a sandbox here: {detail[0]}"
    return features, ""


def base_python() -> str:
    """The interpreter tools without requirements run: the runtime's base Python (not its
    virtual environment, whose packages stay out of the sandbox)."""
    return str(getattr(sys, "_base_executable", None) or sys.executable)


def python_binds(python: str) -> list[str]:
    """Host directories an interpreter needs (its installation prefix), outside /usr."""
    binds: list[str] = []
    for prefix in (sys.base_prefix, str(Path(os.path.realpath(python)).parent.parent)):
        real = os.path.realpath(prefix)
        if not _under(real, "/usr") and real not in binds:
            binds.append(real)
    return binds


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def base_args(
    features: BwrapFeatures,
    *,
    binds: Iterable[str | tuple[str, str]],
    allow_network: bool,
    tmpfs_bytes: int = 256 * 1024 * 1024,
) -> list[str]:
    """Everything before ``--`` and the command: namespaces, the read-only root, tmpfs."""
    args = [
        features.path,
        "--unshare-user",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-uts",
        "--hostname",
        "sandbox",
    ]
    if not allow_network:
        args.append("--unshare-net")
    if features.disable_userns:
        args.append("--disable-userns")
    args += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    if os.geteuid() == 0:
        args += ["--cap-drop", "ALL"]
    args += ["--die-with-parent", "--new-session", "--clearenv"]
    args += ["--ro-bind", "/usr", "/usr"]
    for link in _SYSTEM_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    for path in _ETC_ALWAYS + (_ETC_NETWORK if allow_network else ()):
        args += ["--ro-bind-try", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for entry in _PROC_READ_ONLY:  # bound read-only over the sandbox's own /proc
        args += ["--ro-bind-try", f"/proc/{entry}", f"/proc/{entry}"]
    for tmpfs in ("/tmp", WORK_DIR):
        if features.size:
            args += ["--size", str(tmpfs_bytes)]
        args += ["--tmpfs", tmpfs]
    for bind in binds:  # after the tmpfs mounts, which would hide them
        source, target = bind if isinstance(bind, tuple) else (bind, bind)
        args += ["--ro-bind", source, target]
    # the sandbox's scripts (stdlib only), at the same place relative to each other
    args += [
        "--ro-bind",
        str(SANDBOX_DIR),
        f"{INSIDE_PACKAGE}/tools/sandbox",
        "--ro-bind",
        str(PACKAGE_DIR / "net_guard.py"),
        f"{INSIDE_PACKAGE}/net_guard.py",
        "--remount-ro",  # the root tmpfs that holds the mount points: nothing to write there
        "/",
        "--chdir",
        WORK_DIR,
    ]
    return args
