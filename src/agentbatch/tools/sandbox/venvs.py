"""Cached virtual environments for tools that declare pip requirements.

A requirement is a package name with optional extras and version specifiers
(``humanize>=4,<5``, ``httpx[http2]==0.27.*``): no paths, URLs, VCS links, archive names,
environment markers or pip options (``requirements.py``). Only wheels are ever
installed, so no package's build code runs: the runtime downloads them with ``pip
download --only-binary :all:`` (from the index pip is configured with: ``PIP_INDEX_URL``,
``PIP_FIND_LINKS``, pip's configuration files), then installs them into a new
environment with ``--no-index`` from that download directory (no network); pip runs in
an empty directory of its own, from a requirements file (``pip_run.py``).

One environment per organisation and set of requirements (written one way:
``requirements.canonical_requirements``, so ``six>=1`` and ``six>=1.0.0`` share one;
hashed with the interpreter version) under ``$AGENTBATCH_HOME/sandbox-venvs/<org>/``,
created once and reused. An organisation's environments are built one at a time, under
a file lock that also makes concurrent runtimes on one machine build each once; a
``.agentbatch-ready`` marker written last means a half-built environment is rebuilt
rather than used, and its time stamp (touched on every use) says which was used last.
An organisation keeps at most ``max_per_org`` environments (``AGENTBATCH_TOOL_MAX_VENVS``):
a new one replaces the least recently used that no call of this runtime is using, or is
refused when all are in use. One environment (and its download) may take at most
``max_mb`` (``AGENTBATCH_TOOL_MAX_VENV_MB``). A finished environment is made read-only;
the bubblewrap sandbox also mounts it read-only, so one tool cannot plant code for the
next.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

from agentbatch.tools.sandbox.pip_run import PipRunner, pip_failure
from agentbatch.tools.sandbox.requirements import (
    MAX_REQUIREMENT_CHARS,
    MAX_REQUIREMENTS,
    RequirementsError,
    canonical_requirements,
    normalize_requirements,
)

__all__ = [
    "MAX_REQUIREMENTS",
    "MAX_REQUIREMENT_CHARS",
    "RequirementsError",
    "VenvCache",
    "normalize_requirements",
    "pip_failure",
]

logger = logging.getLogger(__name__)

READY_MARKER = ".agentbatch-ready"
DEFAULT_MAX_PER_ORG = 10


def default_venv_root() -> Path:
    home = os.environ.get("AGENTBATCH_HOME")
    base = Path(home) if home else Path.home() / ".agentbatch"
    return base / "sandbox-venvs"


class VenvCache:
    """Virtual environments keyed by organisation and requirements, built once, reused
    until an organisation's newer ones push them out."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        python: str | None = None,
        install_timeout_s: float = 600.0,
        max_per_org: int | None = DEFAULT_MAX_PER_ORG,
        max_mb: int | None = None,
    ) -> None:
        self.root = (root or default_venv_root()).absolute()  # pip runs elsewhere
        python = python or str(getattr(sys, "_base_executable", None) or sys.executable)
        max_bytes = None if max_mb is None else max_mb * 1024 * 1024
        self.pip = PipRunner(python, timeout_s=install_timeout_s, max_bytes=max_bytes)
        self.max_per_org = max_per_org
        self.in_use: Callable[[], Collection[str]] = frozenset  # environments calls use now
        self.on_evict: Callable[[str], None] | None = None  # told of each one removed
        self._locks: dict[str, asyncio.Lock] = {}
        self._ready: set[Path] = set()

    def key(self, requirements: tuple[str, ...]) -> str:
        text = json.dumps([f"{sys.version_info.major}.{sys.version_info.minor}", *requirements])
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def directory(self, org_id: str | None) -> Path:
        """An organisation's environments (its id hashed: ids may hold any character)."""
        tag = hashlib.sha256((org_id or "").encode()).hexdigest()[:16]
        return self.root / f"org-{tag}"

    def location(self, requirements: Iterable[str], org_id: str | None = None) -> Path:
        """Where ``org_id``'s environment with ``requirements`` is (or would be) built."""
        canonical = canonical_requirements(normalize_requirements(requirements))
        return self.directory(org_id) / self.key(canonical)

    async def ensure(self, requirements: Iterable[str], org_id: str | None = None) -> Path:
        """The interpreter of ``org_id``'s environment with ``requirements`` installed."""
        normalized = normalize_requirements(requirements)
        canonical = canonical_requirements(normalized)
        where = self.directory(org_id)
        venv = where / self.key(canonical)
        if venv in self._ready and _touch(venv):
            return venv / "bin" / "python"
        lock = self._locks.setdefault(where.name, asyncio.Lock())
        async with lock:
            if venv not in self._ready or not _touch(venv):
                self._ready.discard(venv)
                evicted = await asyncio.to_thread(self._build, canonical, normalized, venv)
                for gone in evicted:
                    self._ready.discard(gone)
                    if self.on_evict is not None:
                        self.on_evict(str(gone))
                self._ready.add(venv)
        return venv / "bin" / "python"

    def _build(
        self, requirements: tuple[str, ...], shown: tuple[str, ...], venv: Path
    ) -> list[Path]:
        """Build the environment unless it exists (blocking, under the organisation's
        file lock); returns the environments removed to make room."""
        where = venv.parent
        where.mkdir(parents=True, exist_ok=True)
        with open(where / ".lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            if _touch(venv):
                return []
            evicted = self._make_room(venv)
            _remove(venv)
            logger.info(
                "building a sandbox environment",
                extra={"venv": str(venv), "requirements": list(requirements)},
            )
            with tempfile.TemporaryDirectory(dir=where, prefix=".wheels-") as wheels:
                label = ", ".join(shown)  # as the tool gave them, not as rewritten
                try:
                    self.pip.download(requirements, Path(wheels), label)
                    self.pip.install(venv, requirements, Path(wheels), label)
                except BaseException:
                    _remove(venv)
                    raise
            (venv / READY_MARKER).write_text(json.dumps(list(requirements)) + "\n")
            _make_read_only(venv)
        return evicted

    def _make_room(self, venv: Path) -> list[Path]:
        """Remove the least recently used environments of ``venv``'s organisation that
        no call is using, so that it keeps at most ``max_per_org`` with ``venv``."""
        if self.max_per_org is None:
            return []
        others = [p for p in venv.parent.iterdir() if p.is_dir() and p.name[0] != "." and p != venv]
        excess = len(others) + 1 - self.max_per_org
        if excess <= 0:
            return []
        in_use = {str(p) for p in self.in_use()}
        free = sorted((p for p in others if str(p) not in in_use), key=_last_used)
        if len(free) < excess:
            raise RequirementsError(
                f"could not make another tool environment: this organisation's "
                f"{len(others)} environments are in use, and this server keeps at most "
                f"{self.max_per_org} per organisation (AGENTBATCH_TOOL_MAX_VENVS)"
            )
        for gone in free[:excess]:
            logger.info("removing the least recently used sandbox environment %s", gone)
            _remove(gone)
        return free[:excess]


def _touch(venv: Path) -> bool:
    """Mark a built environment as used now; False when it is not (or no longer) built."""
    try:
        os.utime(venv / READY_MARKER)
    except FileNotFoundError:
        return False
    except OSError:  # not ours to touch (another user's runtime): still there
        return (venv / READY_MARKER).exists()
    return True


def _last_used(venv: Path) -> float:
    """When the environment was last used (a half-built one: never)."""
    with contextlib.suppress(OSError):
        return os.stat(venv / READY_MARKER).st_mtime
    return 0.0


def _make_read_only(venv: Path) -> None:
    """Take the write bits off everything (tools that share the runtime's user in the
    process sandbox cannot change it; bubblewrap mounts it read-only anyway)."""
    for directory, subdirs, files in os.walk(venv):
        for name in [*subdirs, *files]:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                mode = os.lstat(path).st_mode
                os.chmod(path, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    os.chmod(venv, 0o555)


def _remove(venv: Path) -> None:
    if not venv.exists():
        return
    for directory, subdirs, _ in os.walk(venv):
        os.chmod(directory, 0o755)
        for name in subdirs:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755)
    shutil.rmtree(venv, ignore_errors=True)
