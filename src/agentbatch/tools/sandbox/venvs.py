"""Cached virtual environments for tools that declare pip requirements.

A requirement is a package name with optional extras and version specifiers
(``humanize>=4,<5``, ``httpx[http2]==0.27.*``): no paths, URLs, VCS links, archive names,
environment markers or pip options (``requirements.py``). Only wheels are ever
installed, so no package's build code runs: the runtime downloads them with ``pip
download --only-binary :all:`` (from the index pip is configured with: ``PIP_INDEX_URL``,
``PIP_FIND_LINKS``, pip's configuration files), then installs them into a new
environment with ``--no-index`` from that download directory (no network). pip runs in
a new, empty working directory and reads the requirements from a file there, so no
requirement can name a file of the runtime's own directory (a local archive pip would
build, whatever ``--only-binary`` says).

One environment per organisation and set of requirements (sorted, deduplicated, hashed
with the interpreter version) under ``$AGENTBATCH_HOME/sandbox-venvs/<organisation>/``,
created once and reused; a file lock makes concurrent runtimes on one machine build it
once, and a ``.agentbatch-ready`` marker written last means a half-built environment is
rebuilt rather than used. A finished environment is made read-only; the bubblewrap
sandbox also mounts it read-only, so one tool cannot plant code for the next.

pip's own messages stay in the runtime's log: a tool's result says only what kind of
failure it was (no wheel, index unreachable, timeout), never pip's text, which could
hold the index's credentials or the host's paths.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from agentbatch.tools.sandbox.requirements import (
    MAX_REQUIREMENT_CHARS,
    MAX_REQUIREMENTS,
    RequirementsError,
    normalize_requirements,
)

__all__ = [
    "MAX_REQUIREMENTS",
    "MAX_REQUIREMENT_CHARS",
    "RequirementsError",
    "VenvCache",
    "normalize_requirements",
]

logger = logging.getLogger(__name__)

READY_MARKER = ".agentbatch-ready"
_PASSED_ENV = re.compile(
    r"^(PATH|HOME|LANG|LC_\w+|TMPDIR|PIP_\w+|SSL_CERT_\w+|REQUESTS_CA_BUNDLE|"
    r"(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy)$"
)
_FAILURES = (
    (
        re.compile(r"No matching distribution|Could not find a version|ResolutionImpossible"),
        "no wheel matches (only wheels are installed, never source packages)",
    ),
    (
        re.compile(
            r"NewConnectionError|Failed to establish|Name or service not known|"
            r"Temporary failure in name resolution|Max retries exceeded|ProxyError|"
            r"ConnectTimeout|ReadTimeout|SSLError"
        ),
        "the package index could not be reached",
    ),
    (
        re.compile(r"is not a supported wheel|unsupported platform"),
        "no wheel for this Python and platform",
    ),
)


def default_venv_root() -> Path:
    home = os.environ.get("AGENTBATCH_HOME")
    base = Path(home) if home else Path.home() / ".agentbatch"
    return base / "sandbox-venvs"


class VenvCache:
    """Create-once, reuse-forever virtual environments keyed by organisation and
    requirements."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        python: str | None = None,
        install_timeout_s: float = 600.0,
    ) -> None:
        self.root = (root or default_venv_root()).absolute()  # pip runs elsewhere
        self._python = python or str(getattr(sys, "_base_executable", None) or sys.executable)
        self._install_timeout_s = install_timeout_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._ready: dict[str, Path] = {}

    def key(self, requirements: tuple[str, ...]) -> str:
        text = json.dumps([f"{sys.version_info.major}.{sys.version_info.minor}", *requirements])
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def directory(self, org_id: str | None) -> Path:
        """An organisation's environments (its id hashed: ids may hold any character)."""
        tag = hashlib.sha256((org_id or "").encode()).hexdigest()[:16]
        return self.root / f"org-{tag}"

    async def ensure(self, requirements: Iterable[str], org_id: str | None = None) -> Path:
        """The interpreter of ``org_id``'s environment with ``requirements`` installed."""
        normalized = normalize_requirements(requirements)
        where = self.directory(org_id)
        digest = f"{where.name}/{self.key(normalized)}"
        if digest in self._ready:
            return self._ready[digest]
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            if digest not in self._ready:
                venv = where / self.key(normalized)
                self._ready[digest] = await asyncio.to_thread(self._build, normalized, venv)
        return self._ready[digest]

    def _build(self, requirements: tuple[str, ...], venv: Path) -> Path:
        """Build the environment unless it exists; blocking, under a file lock."""
        venv.parent.mkdir(parents=True, exist_ok=True)
        python = venv / "bin" / "python"
        with open(venv.parent / f"{venv.name}.lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            if (venv / READY_MARKER).exists():
                return python
            _remove(venv)
            logger.info(
                "building a sandbox environment",
                extra={"venv": str(venv), "requirements": list(requirements)},
            )
            with tempfile.TemporaryDirectory(dir=venv.parent, prefix=".wheels-") as wheels:
                try:
                    self._download(requirements, wheels)
                    self._install(venv, python, requirements, wheels)
                except BaseException:
                    _remove(venv)
                    raise
            (venv / READY_MARKER).write_text(json.dumps(list(requirements)) + "\n")
            _make_read_only(venv)
        return python

    def _download(self, requirements: tuple[str, ...], wheels: str) -> None:
        pip = [sys.executable, "-m", "pip", "download", "--only-binary", ":all:"]
        self._run(
            [*pip, "--dest", os.path.abspath(wheels), "--no-input", "--quiet"],
            requirements,
            "download wheels for " + ", ".join(requirements),
        )

    def _install(
        self, venv: Path, python: Path, requirements: tuple[str, ...], wheels: str
    ) -> None:
        self._run([self._python, "-m", "venv", "--without-pip", str(venv)], (), "create it")
        install = [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-index",
            "--find-links",
            os.path.abspath(wheels),
            "--only-binary",
            ":all:",
            "--no-input",
            "--quiet",
        ]
        self._run(install, requirements, "install " + ", ".join(requirements))

    def _run(self, args: list[str], requirements: tuple[str, ...], what: str) -> None:
        """Run ``args`` (pip reads ``requirements`` from a file) in a new, empty working
        directory: a requirement is never an argument pip could take for a path, and no
        relative name can resolve to a file of the runtime's own directory."""
        env = {k: v for k, v in os.environ.items() if _PASSED_ENV.match(k)}
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        with tempfile.TemporaryDirectory(prefix="agentbatch-pip-") as empty:
            if requirements:
                listed = os.path.join(empty, "requirements.txt")
                with open(listed, "w") as f:
                    f.write("".join(f"{r}\n" for r in requirements))
                args = [*args, "--requirement", listed]
            try:
                completed = subprocess.run(
                    args,
                    cwd=empty,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=self._install_timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise RequirementsError(
                    f"could not {what}: timed out after {self._install_timeout_s:g} s"
                ) from None
        if completed.returncode != 0:
            text = (completed.stderr or "") + (completed.stdout or "")
            logger.warning(
                "pip failed (exit %d) to %s: %s", completed.returncode, what, text.strip()[-4000:]
            )
            raise RequirementsError(f"could not {what}: {pip_failure(text, completed.returncode)}")


def pip_failure(text: str, code: int) -> str:
    """A short, fixed description of pip's failure (never pip's own words)."""
    for pattern, meaning in _FAILURES:
        if pattern.search(text):
            return meaning
    return f"pip failed (exit code {code}); the operator's log has the details"


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
