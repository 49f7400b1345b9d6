"""Schedules, selectors and selections as a user drives them from the command line:
create, list, show, pause, resume, delete; a job for every agent with a tag and a
templated message, its estimate first; bad input is one line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli_batches import cli


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


def agent(home: Path, name: str, *tags: str) -> str:
    args = ["agents", "create", "--name", name, "--model", "scripted/cli", "--json"]
    for tag in tags:
        args += ["--tag", tag]
    return str(json.loads(cli(home, *args).stdout)["id"])


def test_schedule_lifecycle_and_errors(home: Path) -> None:
    ids = [agent(home, "owl", "sleeptime"), agent(home, "lark", "sleeptime", "vip")]
    agent(home, "busy-bee", "daytime")
    listed = json.loads(cli(home, "agents", "list", "--tag", "sleeptime", "--json").stdout)
    assert sorted(a["id"] for a in listed) == sorted(ids)
    made = json.loads(
        cli(home, "selectors", "create", "night", "--tag", "sleeptime", "--json").stdout
    )
    assert made["matching_agents"] == 2
    created = cli(
        home,
        "schedules",
        "create",
        "--cron",
        "0 2 * * *",
        "--selector",
        "night",
        "--message",
        "Consolidate your memory, {{agent.name}}.",
        "--max-steps",
        "3",
        "--deadline",
        "6h",
        "--max-cost",
        "50",
        "--missed",
        "skip",
        "--json",
    )
    schedule = json.loads(created.stdout)
    assert (schedule["status"], schedule["missed"], schedule["deadline_s"]) == (
        "active",
        "skip",
        21600,
    )
    shown = json.loads(cli(home, "schedules", "show", schedule["id"], "--json").stdout)
    assert len(shown["next_fire_times"]) == 5
    assert all(t.endswith("T02:00:00+00:00") for t in shown["next_fire_times"])
    paused = json.loads(cli(home, "schedules", "pause", schedule["id"], "--json").stdout)
    assert paused["status"] == "paused" and paused["next_fire_at"] is None
    again = cli(home, "schedules", "pause", schedule["id"], check=False)
    assert again.returncode == 2 and "already paused" in again.stderr
    resumed = json.loads(cli(home, "schedules", "resume", schedule["id"], "--json").stdout)
    assert resumed["status"] == "active" and resumed["next_fire_at"]
    cli(home, "schedules", "delete", schedule["id"])
    gone = cli(home, "schedules", "show", schedule["id"], check=False)
    assert gone.returncode == 2 and "not found" in gone.stderr
    for args, message in (
        (["--cron", "0 2 * *", "--tag", "x"], "must have 5 fields"),
        (["--cron", "0 2 * * *", "--tag", "x", "--timezone", "Mars/Base"], "unknown time zone"),
        (["--cron", "0 2 * * *", "--tag", "x", "--deadline", "6x"], "not a duration"),
        (["--cron", "0 2 * * *", "--selector", "nope"], "selector 'nope' not found"),
    ):
        bad = cli(home, "schedules", "create", *args, "--message", "m", check=False)
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)
        assert "Traceback" not in bad.stderr


def test_a_job_for_every_agent_with_a_tag(home: Path) -> None:
    ids = [agent(home, f"n{i}", "night") for i in range(3)]
    agent(home, "day", "day")
    estimate = json.loads(
        cli(
            home,
            "batches",
            "submit",
            "--tag",
            "night",
            "--message",
            "Hi {{agent.name}}",
            "--estimate",
            "--json",
        ).stdout
    )
    assert estimate["requests"] == 3 and estimate["input_tokens"] > 0
    assert estimate["unpriced_models"] == ["scripted/cli"]
    assert json.loads(cli(home, "batches", "list", "--json").stdout) == []  # nothing sent
    done = cli(
        home,
        "batches",
        "submit",
        "--tag",
        "night",
        "--message",
        "Hi {{agent.name}}",
        "--wait",
        "--json",
    )
    job = json.loads(done.stdout)
    assert (job["status"], job["request_count"]) == ("completed", 3)
    runs = {
        r["agent_id"]: r
        for r in json.loads(cli(home, "batches", "messages", job["id"], "--json").stdout)
        if r["kind"] == "input"
    }
    assert sorted(runs) == sorted(ids)
    assert sorted(m["content"] for m in runs.values()) == ["Hi n0", "Hi n1", "Hi n2"]
    shown = cli(home, "batches", "show", job["id"]).stdout
    assert "batch: 3 request(s)" in shown
    nothing = cli(home, "batches", "submit", "--tag", "nobody", "--message", "x", check=False)
    assert nothing.returncode == 2 and "no agent matches" in nothing.stderr
    loose = cli(home, "batches", "submit", "--tag", "night", check=False)
    assert loose.returncode == 2 and "--message is required" in loose.stderr
