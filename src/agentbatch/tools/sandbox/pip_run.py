"""pip, run for a tool's environment: wheels only, away from the runtime's files, within a
size limit.

Each pip command runs in a new, empty working directory and reads the requirements from
a file there (never from its command line), so no requirement can name a file of the
runtime's own directory (pip builds a local archive whatever ``--only-binary`` says).
pip's temporary files go to a directory of that run too; while pip runs, the download
(or the environment being installed) and those files are measured, and pip is stopped
once they pass ``max_bytes`` (``AGENTBATCH_TOOL_MAX_VENV_MB``) or the timeout.

pip's own messages stay in the runtime's log: a tool's result says only what kind of
failure it was (no wheel, index unreachable, too large, timeout), never pip's text,
which could hold the index's credentials or the host's paths.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from agentbatch.tools.sandbox.requirements import RequirementsError

logger = logging.getLogger(__name__)

POLL_S = 0.5
_PASSED_ENV = re.compile(
    r"^(PATH|HOME|LANG|LC_\w+|PIP_\w+|SSL_CERT_\w+|REQUESTS_CA_BUNDLE|"
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


def pip_failure(text: str, code: int) -> str:
    """A short, fixed description of pip's failure (never pip's own words)."""
    for pattern, meaning in _FAILURES:
        if pattern.search(text):
            return meaning
    return f"pip failed (exit code {code}); the operator's log has the details"


def tree_bytes(*roots: str | Path) -> int:
    """Bytes of the regular files under ``roots`` (links not followed)."""
    total = 0
    for root in roots:
        for directory, _, files in os.walk(root):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(directory, name)).st_size
    return total


class PipRunner:
    """``download`` wheels, ``install`` them into a new environment (no index)."""

    def __init__(self, python: str, *, timeout_s: float, max_bytes: int | None) -> None:
        self.python = python  # the interpreter environments are made with
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes

    def download(self, requirements: Sequence[str], wheels: Path, label: str = "") -> None:
        """``label``: the requirements as the tool gave them, for messages."""
        pip = [sys.executable, "-m", "pip", "download", "--only-binary", ":all:"]
        self._run(
            [*pip, "--dest", str(wheels.absolute()), "--no-input", "--quiet"],
            requirements,
            "download wheels for " + (label or ", ".join(requirements)),
            watch=wheels,
        )

    def install(
        self, venv: Path, requirements: Sequence[str], wheels: Path, label: str = ""
    ) -> None:
        self._run([self.python, "-m", "venv", "--without-pip", str(venv)], (), "create it")
        install = [
            *(sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")),
            *("install", "--no-index", "--find-links", str(wheels.absolute())),
            *("--only-binary", ":all:", "--no-input", "--quiet"),
        ]
        what = "install " + (label or ", ".join(requirements))
        self._run(install, requirements, what, watch=venv)

    def _run(
        self, args: list[str], requirements: Sequence[str], what: str, watch: Path | None = None
    ) -> None:
        env = {k: v for k, v in os.environ.items() if _PASSED_ENV.match(k)}
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        with tempfile.TemporaryDirectory(prefix="agentbatch-pip-") as work:
            empty, scratch = os.path.join(work, "cwd"), os.path.join(work, "tmp")
            os.mkdir(empty)
            os.mkdir(scratch)
            env["TMPDIR"] = scratch  # pip's downloads in progress, measured below
            if requirements:
                listed = os.path.join(work, "requirements.txt")
                with open(listed, "w") as f:
                    f.write("".join(f"{r}\n" for r in requirements))
                args = [*args, "--requirement", listed]
            code, text = self._watch(args, empty, env, what, (scratch, *([watch] if watch else [])))
        if code != 0:
            logger.warning("pip failed (exit %d) to %s: %s", code, what, text.strip()[-4000:])
            raise RequirementsError(f"could not {what}: {pip_failure(text, code)}")

    def _watch(
        self,
        args: list[str],
        cwd: str,
        env: dict[str, str],
        what: str,
        measured: tuple[str | Path, ...],
    ) -> tuple[int, str]:
        """Run pip to its end, or stop it past the timeout or the size limit."""
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + self.timeout_s
        try:
            while True:
                try:
                    out, err = process.communicate(timeout=POLL_S)
                except subprocess.TimeoutExpired:
                    if time.monotonic() > deadline:
                        raise RequirementsError(
                            f"could not {what}: timed out after {self.timeout_s:g} s"
                        ) from None
                    self._check_size(what, measured)
                    continue
                if process.returncode == 0:
                    self._check_size(what, measured)
                return process.returncode, (err or "") + (out or "")
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()

    def _check_size(self, what: str, measured: tuple[str | Path, ...]) -> None:
        if self.max_bytes is not None and tree_bytes(*measured) > self.max_bytes:
            mb = self.max_bytes / (1024 * 1024)
            raise RequirementsError(
                f"could not {what}: larger than {mb:g} MB, the most one tool environment "
                "may take on this server (AGENTBATCH_TOOL_MAX_VENV_MB)"
            )
