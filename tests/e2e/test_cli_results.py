"""Results as a user reads them: lists that page and say what they left out, runs with their
stop reasons, exports of a 1,000-agent job (JSONL, CSV, OpenAI output), transcripts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.e2e.cli_support import Cli

REPLY = [{"text": "reply to {input}"}]
LOOPS = [{"tool": "send_message", "args": {"message": "working"}, "heartbeat": True}] * 3


@pytest.fixture
def ab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(tmp_path, monkeypatch)


def test_lists_page_with_limit_all_and_a_hint(ab: Cli) -> None:
    ids = ab.seed(250)
    shown = ab("agents", "list")
    assert "150 more; use --all" in shown.stderr
    assert ids[0] in shown.stdout  # whole ids, never shortened
    assert len(ab.json("agents", "list")) == 100
    assert len(ab.json("agents", "list", "--limit", "7")) == 7
    everything = ab.json("agents", "list", "--all")
    assert [a["id"] for a in everything] == sorted(ids)
    assert "more" not in ab("agents", "list", "--all").stderr

    by_name = ab.json("agents", "show", "bulk-17")
    assert by_name["id"] == ids[17]
    assert ab.json("agents", "show", ids[17][:-3])["name"] == "bulk-17"
    ambiguous = ab("agents", "show", "agent-", ok=False)
    assert ambiguous.exit_code == 2 and "matches several agents" in ambiguous.stderr
    missing = ab("agents", "show", "nobody", ok=False)
    assert missing.exit_code == 2 and "no agent has the id" in missing.stderr
    other = ab("agents", "list", "--org", "acme", ok=False)
    assert other.exit_code == 2 and "no organisation 'acme'" in other.stderr


def test_a_1000_agent_job_runs_and_exports(ab: Cli) -> None:
    ids = ab.seed(1000, scripts=[REPLY, LOOPS])
    requests = "\n".join(
        json.dumps({"agent_id": a, "messages": f"question {i}"}) for i, a in enumerate(ids)
    )
    job = ab.json("batches", "submit", ab.write("r.jsonl", requests), "--max-steps", "2", "--wait")
    assert job["runs"]["completed"] == 1000
    assert job["outcomes"] == {"final_reply": 500, "max_steps": 500}

    shown = ab("batches", "show", job["id"][:12]).stdout
    assert "stop reasons: final_reply 500, max_steps 500" in shown
    assert "500 run(s) ran out of steps (max_steps 2) before a final reply" in shown

    out_of_steps = ab.json("batches", "runs", job["id"], "--stop-reason", "max_steps", "--all")
    assert len(out_of_steps) == 500 and {r["reply"] for r in out_of_steps} == {"working"}
    page = ab("batches", "runs", job["id"], "--limit", "10")
    assert "990 more; use --all" in page.stderr and "question" in page.stdout

    jsonl = Path(ab.home / "out.jsonl")
    ab("batches", "export", job["id"], "--format", "jsonl", "-o", str(jsonl))
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(rows) == 1000 and len({r["agent_id"] for r in rows}) == 1000
    by_agent = {r["agent_id"]: r for r in rows}
    first = by_agent[ids[0]]
    assert (first["agent_name"], first["status"], first["stop_reason"]) == (
        "bulk-0",
        "completed",
        "final_reply",
    )
    assert first["reply"] == "reply to question 0" and first["input"] == "question 0"
    assert by_agent[ids[1]]["stop_reason"] == "max_steps" and by_agent[ids[1]]["steps"] == 2
    assert all(r["input_tokens"] > 0 and "cost_usd" in r for r in rows)

    table = list(
        csv.DictReader(io.StringIO(ab("batches", "export", job["id"], "--format", "csv").stdout))
    )
    assert len(table) == 1000
    assert {r["stop_reason"] for r in table} == {"final_reply", "max_steps"}
    assert next(r for r in table if r["agent_id"] == ids[0])["reply"] == "reply to question 0"

    lines = ab("batches", "export", job["id"], "--format", "openai").stdout.splitlines()
    outputs = {o["custom_id"]: o for o in map(json.loads, lines)}
    assert set(outputs) == set(ids)
    done = outputs[ids[0]]["response"]["body"]["choices"][0]
    assert done["message"]["content"] == "reply to question 0" and done["finish_reason"] == "stop"
    assert outputs[ids[1]]["response"]["body"]["choices"][0]["finish_reason"] == "length"


def test_agent_transcript_across_jobs(ab: Cli) -> None:
    agent = ab.agent("ada", REPLY)
    for text in ("first visit", "second visit"):
        request = ab.write("r.json", {"agent_id": "ada", "messages": text})  # found by name
        ab("batches", "submit", request, "--wait")
    messages = ab.json("agents", "messages", "ada")
    assert [m["content"] for m in messages] == [
        "first visit",
        "reply to first visit",
        "second visit",
        "reply to second visit",
    ]
    assert len({m["job_id"] for m in messages}) == 2 and {m["agent_id"] for m in messages} == {
        agent
    }
    text = ab("agents", "messages", agent, "--limit", "3")
    assert "second visit" in text.stdout and "1 more; use --all" in text.stderr
    assert text.stdout.count("-- job") == 2
