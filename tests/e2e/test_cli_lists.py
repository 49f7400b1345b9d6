"""List tables at 80 columns (or piped): ids are whole, other columns give way."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli_support import Cli
from tests.letta_files import agent_file

REPLY = [{"tool": "send_message", "args": {"message": "a long reply about {input} " * 4}}]


def test_lists_never_cut_ids_at_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ab = Cli(tmp_path, monkeypatch)
    agent = ab.agent(
        "an-agent-with-a-rather-long-name",
        REPLY,
        tools=["send_message", "core_memory_append", "core_memory_replace"],
        blocks=[{"label": "human", "value": ""}, {"label": "persona", "value": ""}],
        tags=["nightly", "crm"],
    )
    requests = ab.write("r.jsonl", '{"agent_id": "' + agent + '", "messages": "green tea"}')
    job = ab.json("batches", "submit", requests, "--wait")["id"]
    block = ab.json("blocks", "create", "--label", "team", "--value", "x" * 200)["id"]
    monkeypatch.setenv("COLUMNS", "80")
    for args, whole in (
        (("agents", "list"), agent),
        (("batches", "list"), job),
        (("batches", "runs", job), agent),
        (("blocks", "list"), block),
    ):
        out = ab(*args).stdout
        assert whole in out, (args, out)
        assert max(len(line) for line in out.splitlines()) <= 80, out


def test_cut_lists_say_how_many_more(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ab = Cli(tmp_path, monkeypatch)
    agent = ab.agent("ada", [{"tool": "send_message", "args": {"message": "hi"}}])
    requests = ab.write("r.jsonl", '{"agent_id": "' + agent + '", "messages": "tea"}')
    jobs = [ab.json("batches", "submit", requests, "--wait")["id"] for _ in range(2)]
    messages = ab("batches", "messages", jobs[0], "--limit", "1")
    assert "... 2 more; use --all" in messages.stderr  # input, then assistant and tool
    listed = ab("batches", "list", "--limit", "1")
    assert jobs[1] in listed.stdout and "... 1 more; use --all" in listed.stderr
    both = ab("batches", "list", "--all", "--limit", "5", ok=False)
    assert both.exit_code == 2 and both.stderr.strip() == "error: give --all or --limit, not both"
    assert len(ab.json("batches", "list", "--all")) == 2


def test_imported_history_has_no_step_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ab = Cli(tmp_path, monkeypatch)
    report = ab.json("agents", "import", ab.write("team.af", agent_file()), "--model", "scripted/x")
    out = ab("agents", "messages", report["agents"][0]["id"]).stdout
    assert "sNone" not in out and " - " in out


async def _store_bad_setting(url: str, agent_id: str) -> None:
    """A setting stored before settings were checked (an older version, a hand edit)."""
    from sqlalchemy import update

    from agentbatch.app import AgentBatch
    from agentbatch.store.tables import agents

    ab = await AgentBatch.open(url)
    try:
        async with ab.db.write() as conn:
            await conn.execute(
                update(agents)
                .where(agents.c.id == agent_id)
                .values(model_settings={"max_tokens": "abc"})
            )
    finally:
        await ab.close()


def test_a_run_failed_at_prepare_shows_its_input_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import json

    ab = Cli(tmp_path, monkeypatch)
    agent = ab.agent("old", REPLY)
    asyncio.run(_store_bad_setting(ab.url, agent))
    requests = ab.write("r.jsonl", json.dumps({"agent_id": agent, "messages": "green tea"}))
    failed = ab("batches", "submit", requests, "--wait", "--json", ok=False)
    assert failed.exit_code == 3
    [run] = ab.json("batches", "runs", ab.json("batches", "list")[0]["id"])
    assert run["status"] == "failed" and run["input"] == "green tea"
    assert "model_settings.max_tokens must be a whole number" in run["error"]
    assert f"agentbatch agents update {agent} --set max_tokens=" in run["error"]
