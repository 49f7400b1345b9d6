"""List tables at 80 columns (or piped): ids are whole, other columns give way."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli_support import Cli

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
