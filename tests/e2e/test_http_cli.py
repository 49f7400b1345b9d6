"""`agentbatch keys create|list|revoke` and `agentbatch serve --with-worker` as a user runs
them: a real server process, driven with the client, stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from agentbatch.cli.main import cli
from agentbatch.client import ApiError, Client
from agentbatch.testing.server import free_port


def keys(db: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["keys", *args, "--database-url", db])
    assert result.exit_code == 0, result.output
    return result.output


def test_key_lifecycle_and_a_served_job(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    minted = json.loads(keys(db, "create", "--org", "acme", "--name", "ci", "--json"))
    assert minted["key"].startswith(minted["prefix"]) and minted["org_id"] == "acme"
    other = json.loads(keys(db, "create", "--org", "globex", "--json"))
    listed = json.loads(keys(db, "list", "--json"))
    assert {k["id"] for k in listed} == {minted["id"], other["id"]}
    assert all("key" not in k and minted["key"] not in json.dumps(k) for k in listed)
    assert [k["id"] for k in json.loads(keys(db, "list", "--org", "acme", "--json"))] == [
        minted["id"]
    ]

    port = free_port()
    env = {**os.environ, "AGENTBATCH_IDLE_SLEEP": "0.02", "AGENTBATCH_SEND_DELAY": "0"}
    env.update(AGENTBATCH_POLL_INTERVAL="0", AGENTBATCH_HOME=str(tmp_path / "home"))
    command = [sys.executable, "-m", "agentbatch.cli.main", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--with-worker", "--database-url", db],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/v1/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        with Client(url, minted["key"]) as c:
            agent = c.create_agent({"name": "served", "model": "scripted/x"})
            job = c.create_job({"requests": [{"agent_id": agent["id"], "messages": "ping"}]})
            assert c.wait_job(job["id"], timeout_s=60, poll_s=0.05)["status"] == "completed"
            assert c.list_runs(job["id"])["data"][0]["reply"] == "You said: ping"

        assert "revoked" in keys(db, "revoke", minted["prefix"])
        with Client(url, minted["key"]) as c:
            try:
                c.list_agents()
                raise AssertionError("a revoked key still works")
            except ApiError as exc:
                assert exc.status_code == 401
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully (lifespan: worker stopped, store closed), then
        # re-raises the signal so that the exit status tells how the process ended
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = proc.stdout.read().decode() if proc.stdout else ""
    assert "Application shutdown complete" in output
    assert minted["key"] not in output and other["key"] not in output
