"""`agentbatch emulate` as a person runs it: the banner says where it listens and what to
export; with no script it answers with a memory edit, then a reply; steps count per run
(a second job for the same agent starts at the top of the script); `--log` prints requests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentbatch.testing.console import DIALECTS
from agentbatch.testing.server import free_port
from tests.e2e.cli_support import Cli


def _wait_for_port(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the emulator did not start")


@pytest.mark.parametrize("provider", sorted(DIALECTS))
def test_emulator_for_humans(
    provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    log = tmp_path / "emulator.out"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentbatch.cli.main",
                "emulate",
                provider,
                "--port",
                str(port),
                "--log",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        _wait_for_port(port, proc)
        banner = log.read_text()
        dialect = DIALECTS[provider]
        base_url = f"http://127.0.0.1:{port}{dialect.path}"
        assert f"export {dialect.base_var}={base_url}\n" in banner
        assert f"export {dialect.key_var}=test" in banner
        assert "export AGENTBATCH_POLL_INTERVAL=1" in banner
        assert "script: default: core_memory_append" in banner and "request log: on" in banner

        ab = Cli(tmp_path, monkeypatch)
        monkeypatch.setenv(dialect.base_var, base_url)  # exactly what the banner says
        monkeypatch.setenv(dialect.key_var, "test")
        spec = {
            "name": "ada",
            "model": dialect.model,
            "blocks": [{"label": "human", "value": ""}],
            "tools": ["core_memory_append", "send_message"],
        }
        ab.json("agents", "create", "--file", ab.write("ada.json", spec))
        for text in ("likes tea", "likes jazz"):
            ab.write("r.json", {"agent_id": "ada", "messages": text})
            job = ab.json("batches", "submit", str(tmp_path / "r.json"), "--wait")
            assert job["status"] == "completed", job
        runs = ab.json("batches", "runs", job["id"])
        assert runs[0]["reply"] == "Noted: likes jazz" and runs[0]["steps"] == 2
        human = ab.json("agents", "show", "ada")["blocks"][0]["value"]
        assert "likes tea" in human and "likes jazz" in human
        lines = log.read_text().splitlines()
        assert any(" POST " in line and "-> 20" in line for line in lines), lines[-5:]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_port_in_use_is_an_error_before_any_banner() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "agentbatch.cli.main", "emulate", "google", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stdout == ""  # no banner pointing at somebody else's server
    assert f"error: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
