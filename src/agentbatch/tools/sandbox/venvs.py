"""Cached virtual environments for tools that declare pip requirements.

One environment per set of requirements (sorted, deduplicated, hashed together with the
interpreter version) under ``$AGENTBATCH_HOME/sandbox-venvs`` (default
``~/.agentbatch/sandbox-venvs``), created once with ``python -m venv`` (no system
site-packages) and filled by pip; later calls reuse it. A file lock makes concurrent
runtimes on one machine build each environment once; a ``.agentbatch-ready`` marker is
written last, so a half-built environment is rebuilt rather than used.

Installing runs pip, and with it any build code of the packages, outside the sandbox: with
network access and no resource limits, but with a filtered environment (``PATH``,
``HOME``, locale, proxy and ``PIP_*`` settings only) so the runtime's credentials stay out.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from agentbatch.errors import AgentBatchError

logger = logging.getLogger(__name__)

READY_MARKER = ".agentbatch-ready"
_PASSED_ENV = re.compile(
    r"^(PATH|HOME|LANG|LC_\w+|TMPDIR|PIP_\w+|SSL_CERT_\w+|REQUESTS_CA_BUNDLE|"
    r"(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy)$"
)


class RequirementsError(AgentBatchError):
    """The requirements are invalid or could not be installed (the message says why)."""


def default_venv_root() -> Path:
    home = os.environ.get("AGENTBATCH_HOME")
    base = Path(home) if home else Path.home() / ".agentbatch"
    return base / "sandbox-venvs"


def normalize_requirements(requirements: Iterable[str]) -> tuple[str, ...]:
    """Stripped, deduplicated and sorted requirement strings; reject pip options."""
    cleaned: set[str] = set()
    for requirement in requirements:
        if not isinstance(requirement, str):
            raise RequirementsError(f"a requirement must be a string, got {requirement!r}")
        text = requirement.strip()
        if not text:
            continue
        if text.startswith("-") or "\n" in text or "\0" in text:
            raise RequirementsError(
                f"invalid requirement {requirement!r}: give a package (e.g. 'humanize>=4') "
                "or a path, not pip options"
            )
        cleaned.add(text)
    return tuple(sorted(cleaned))


class VenvCache:
    """Create-once, reuse-forever virtual environments keyed by requirements."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        python: str | None = None,
        install_timeout_s: float = 600.0,
    ) -> None:
        self.root = root or default_venv_root()
        self._python = python or sys.executable
        self._install_timeout_s = install_timeout_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._ready: dict[str, Path] = {}

    def key(self, requirements: tuple[str, ...]) -> str:
        text = json.dumps([f"{sys.version_info.major}.{sys.version_info.minor}", *requirements])
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    async def ensure(self, requirements: Iterable[str]) -> Path:
        """The interpreter of an environment with ``requirements`` installed."""
        normalized = normalize_requirements(requirements)
        digest = self.key(normalized)
        if digest in self._ready:
            return self._ready[digest]
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            if digest not in self._ready:
                self._ready[digest] = await asyncio.to_thread(self._build, normalized, digest)
        return self._ready[digest]

    def _build(self, requirements: tuple[str, ...], digest: str) -> Path:
        """Build the environment unless it exists; blocking, under a file lock."""
        self.root.mkdir(parents=True, exist_ok=True)
        venv = self.root / digest
        python = venv / "bin" / "python"
        with open(self.root / f"{digest}.lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            if (venv / READY_MARKER).exists():
                return python
            shutil.rmtree(venv, ignore_errors=True)
            logger.info(
                "building a sandbox environment",
                extra={"venv": str(venv), "requirements": list(requirements)},
            )
            try:
                self._create(venv, python, requirements)
            except BaseException:
                shutil.rmtree(venv, ignore_errors=True)
                raise
            (venv / READY_MARKER).write_text(json.dumps(list(requirements)) + "\n")
        return python

    def _create(self, venv: Path, python: Path, requirements: tuple[str, ...]) -> None:
        fast = _has_pip_python_option(self._python)
        venv_args = [self._python, "-m", "venv"]
        if fast:  # no ensurepip: the runtime's pip installs into the new environment
            venv_args.append("--without-pip")
        self._run([*venv_args, str(venv)], "create the environment")
        pip = (
            [self._python, "-m", "pip", "--python", str(python)]
            if fast
            else [str(python), "-m", "pip"]
        )
        install = [
            *pip,
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "--",
            *requirements,
        ]
        self._run(install, f"install {', '.join(requirements)}")

    def _run(self, args: list[str], what: str) -> None:
        env = {k: v for k, v in os.environ.items() if _PASSED_ENV.match(k)}
        try:
            completed = subprocess.run(
                args,
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
            tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-8:])
            raise RequirementsError(f"could not {what}: {tail}")


_PIP_OPTION_CACHE: dict[str, bool] = {}


def _has_pip_python_option(python: str) -> bool:
    """Whether ``python -m pip`` exists and knows ``--python`` (pip >= 22.3)."""
    if python not in _PIP_OPTION_CACHE:
        supported = False
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [python, "-m", "pip", "--version"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            ).stdout
            match = re.match(r"pip (\d+)\.(\d+)", out)
            if match is not None:
                supported = (int(match[1]), int(match[2])) >= (22, 3)
        _PIP_OPTION_CACHE[python] = supported
    return _PIP_OPTION_CACHE[python]
