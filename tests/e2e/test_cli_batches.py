"""The batch commands as a user drives them: submit a JSONL file, wait, show, messages,
including a run that keeps failing and whose error `batches show` must display."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def cli(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AGENTBATCH_HOME": str(home),
        "AGENTBATCH_SEND_DELAY": "0",
        "AGENTBATCH_POLL_INTERVAL": "0.05",
        "AGENTBATCH_RETRY_BACKOFF": "0",
        "AGENTBATCH_IDLE_SLEEP": "0.02",
        "COLUMNS": "200",
    }
    env.pop("AGENTBATCH_DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "agentbatch.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def create_agent(home: Path, name: str, script: list[dict[str, object]]) -> str:
    spec = home / f"{name}.json"
    spec.write_text(
        json.dumps({"name": name, "model": "scripted/cli", "model_settings": {"script": script}})
    )
    return str(
        json.loads(cli(home, "agents", "create", "--file", str(spec), "--json").stdout)["id"]
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


def test_submit_wait_show_and_messages_with_a_failing_run(home: Path) -> None:
    good = create_agent(home, "good", [{"tool": "send_message", "args": {"message": "hello back"}}])
    bad = create_agent(
        home, "bad", [{"tool": "send_message", "args": {"message": "x"}, "fail": "always"}]
    )
    requests = home / "requests.jsonl"
    requests.write_text(
        "\n".join(json.dumps({"agent_id": a, "messages": "hi"}) for a in (good, bad))
    )

    submitted = cli(home, "batches", "submit", str(requests), "--max-steps", "2", "--wait")
    assert "completed" in submitted.stdout
    job_id = json.loads(cli(home, "batches", "list", "--json").stdout)[0]["id"]

    shown = cli(home, "batches", "show", job_id).stdout
    assert "runs: completed 1, failed 1" in shown
    assert f"failed {bad}" in " ".join(shown.split())
    assert "scripted failure (always)" in shown and "after 3 attempt(s)" in shown

    msgs = json.loads(cli(home, "batches", "messages", job_id, "--agent", good, "--json").stdout)
    assert [m["kind"] for m in msgs] == ["input", "assistant", "tool"]
    assert json.loads(msgs[1]["tool_calls"][0]["arguments"])["message"] == "hello back"
    assert (
        json.loads(cli(home, "batches", "messages", job_id, "--agent", bad, "--json").stdout)[0][
            "kind"
        ]
        == "input"
    )


def test_bad_input_is_one_line_and_changes_nothing(home: Path) -> None:
    agent = create_agent(home, "a", [{"text": "ok"}])
    dupes = home / "dupes.jsonl"
    dupes.write_text("\n".join(json.dumps({"agent_id": agent, "messages": "hi"}) for _ in range(2)))
    proc = cli(home, "batches", "submit", str(dupes), check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "duplicate agent ids" in proc.stderr
    assert "Traceback" not in proc.stderr
    bad_json = home / "bad.jsonl"
    bad_json.write_text('{"agent_id": "x", "messages": "hi"}\n{not json\n')
    proc = cli(home, "batches", "submit", str(bad_json), check=False)
    assert proc.returncode == 2 and "bad.jsonl:2: not valid JSON" in proc.stderr
    assert json.loads(cli(home, "batches", "list", "--json").stdout) == []


def test_wait_exits_non_zero_when_the_job_fails_or_is_cancelled(home: Path) -> None:
    bad = create_agent(
        home, "bad", [{"tool": "send_message", "args": {"message": "x"}, "fail": "always"}]
    )
    requests = home / "requests.jsonl"
    requests.write_text(json.dumps({"agent_id": bad, "messages": "hi"}))
    failed = cli(home, "batches", "submit", str(requests), "--wait", "--json", check=False)
    assert failed.returncode == 3, failed.stderr
    job = json.loads(failed.stdout)
    assert job["status"] == "failed"
    assert job["error"].startswith("1 of 1 runs failed: provider_error ×1")
    assert "scripted failure (always)" in job["error"]
    assert [r["agent_id"] for r in job["failed_runs"]] == [bad]

    # without --json the user is told why, not only how many
    waited = cli(home, "batches", "wait", job["id"], check=False)
    assert waited.returncode == 3, waited.stderr
    text = " ".join(waited.stdout.split())
    assert "error: 1 of 1 runs failed: provider_error ×1" in text
    assert f"failed {bad}: errored: scripted failure (always)" in text
    resubmitted = cli(home, "batches", "submit", str(requests), "--wait", check=False)
    assert resubmitted.returncode == 3, resubmitted.stderr
    assert f"failed {bad}: errored: scripted failure (always)" in " ".join(
        resubmitted.stdout.split()
    )

    good = create_agent(home, "good", [{"tool": "send_message", "args": {"message": "hi"}}])
    requests.write_text(json.dumps({"agent_id": good, "messages": "hi"}))
    submitted = json.loads(cli(home, "batches", "submit", str(requests), "--json").stdout)
    cli(home, "batches", "cancel", submitted["id"])
    waited = cli(home, "batches", "wait", submitted["id"], check=False)
    assert waited.returncode == 4, waited.stderr
    assert "cancelled" in waited.stdout
