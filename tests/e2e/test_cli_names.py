"""Agent names as the CLI's handles: `agents create` refuses a name in use (unless
--allow-duplicate), a job's own agent wins a name lookup within that job, and
`agentbatch demo` run twice makes agents of its own each time."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli_support import Cli

REPLY = [{"tool": "send_message", "args": {"message": "hi {input}"}}]


@pytest.fixture
def ab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(tmp_path, monkeypatch)


def test_a_name_in_use_is_refused_unless_allowed(ab: Cli) -> None:
    first = ab.agent("s1", REPLY)
    again = ab("agents", "create", "--name", "s1", ok=False)
    assert again.exit_code == 2 and "exists already" in again.stderr
    assert first in again.stderr and "--allow-duplicate" in again.stderr
    twin = ab.json("agents", "create", "--name", "s1", "--allow-duplicate")["id"]
    assert {a["id"] for a in ab.json("agents", "list", "--name", "s1")} == {first, twin}
    ambiguous = ab("agents", "show", "s1", ok=False)
    assert ambiguous.exit_code == 2 and "2 agents are named 's1'" in ambiguous.stderr
    assert "agents list --name s1" in ambiguous.stderr


def test_within_a_job_its_own_agent_wins_the_name(ab: Cli) -> None:
    mine = ab.agent("s1", REPLY)
    requests = ab.write("r.jsonl", '{"agent_id": "' + mine + '", "messages": "tea"}')
    job = ab.json("batches", "submit", requests, "--wait")["id"]
    ab.json("agents", "create", "--name", "s1", "--allow-duplicate")  # not in the job
    msgs = ab.json("batches", "messages", job, "--agent", "s1")
    assert [m["kind"] for m in msgs] == ["input", "assistant", "tool"]
    assert {m["agent_id"] for m in msgs} == {mine}


def test_the_demo_twice_makes_fresh_agents(ab: Cli) -> None:
    for _ in range(2):
        ab("demo", "--agents", "2", "--steps", "2", "--model", "scripted/demo")
    names = sorted(a["name"] for a in ab.json("agents", "list"))
    assert names == ["demo-1", "demo-2", "demo2-1", "demo2-2"]
    job = ab.json("batches", "list")[0]["id"]  # the second demo's job
    assert ab.json("batches", "messages", job, "--agent", "demo2-1")
