"""Wrong input a new user types, each answered with one line and exit 2 (1 when the
command cannot run), never a traceback and never half-done work: files that are not
UTF-8, a cron that never fires, agents named on selection flags, an estimate with a bad
deadline or an empty selection, a demo without the key its model needs, a demo too large
for a demo, a port already taken."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.e2e.cli_support import Cli

REPLY = [{"tool": "send_message", "args": {"message": "hi"}}]


@pytest.fixture
def ab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("AGENTBATCH_ALLOW_SCRIPTED", "1")
    return Cli(tmp_path, monkeypatch)


def refused(ab: Cli, *args: str, code: int = 2) -> str:
    result = ab(*args, ok=False)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1, result.stderr  # one line
    return result.stderr


def test_files_that_are_not_utf8_are_named(ab: Cli) -> None:
    agent = ab.agent("ada", REPLY)
    latin1 = ab.home / "requests.jsonl"
    latin1.write_bytes(
        json.dumps({"agent_id": agent, "messages": "café"}, ensure_ascii=False).encode("latin-1")
    )
    err = refused(ab, "batches", "submit", str(latin1))
    assert "not UTF-8" in err and "0xe9" in err and "requests.jsonl" in err
    tool = ab.home / "tool.py"
    tool.write_bytes(b'def t() -> str:\n    """\xff"""\n    return "x"\n')
    assert "not UTF-8" in refused(ab, "tools", "create", "--file", str(tool))
    spec = ab.home / "agent.json"
    spec.write_bytes(b'{"name": "b\xe9", "model": "scripted/x"}')
    assert "not UTF-8" in refused(ab, "agents", "create", "--file", str(spec))
    assert ab.json("batches", "list") == []  # nothing was submitted


def test_a_file_with_a_byte_order_mark_is_read(ab: Cli) -> None:
    agent = ab.agent("ada", REPLY)
    bom = ab.home / "requests.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps({"agent_id": agent, "messages": "hi"}).encode())
    job = ab.json("batches", "submit", str(bom), "--wait")
    assert job["status"] == "completed"


def test_a_cron_that_never_fires_is_refused(ab: Cli) -> None:
    ab.agent("ada", REPLY, tags=["sleeptime"])
    err = refused(
        ab, "schedules", "create", "--cron", "0 2 31 2 *", "--tag", "sleeptime", "--message", "hi"
    )
    assert "never fires" in err
    assert ab.json("schedules", "list") == []


def test_selection_flags_take_agent_names(ab: Cli) -> None:
    ada = ab.agent("ada", REPLY)
    selector = ab.json("selectors", "create", "mine", "--agent", "ada")
    assert selector["agents"]["ids"] == [ada] and selector["matching_agents"] == 1
    schedule = ab.json(
        "schedules", "create", "--cron", "0 2 * * *", "--agent", "ada", "--message", "hi"
    )
    assert schedule["agents"]["ids"] == [ada]
    estimate = ab.json("batches", "submit", "--agent", "ada", "--message", "hi", "--estimate")
    assert estimate["requests"] == 1
    err = refused(ab, "selectors", "create", "other", "--agent", "nobody")
    assert "nobody" in err
    err = refused(ab, "schedules", "create", "--cron", "0 2 * * *", "--message", "hi")
    assert "--selector" in err and "request:" not in err


def test_an_estimate_checks_what_a_submit_checks(ab: Cli) -> None:
    ab.agent("ada", REPLY, tags=["t"])
    for deadline in ("bogus", "-6h"):
        err = refused(
            ab, "batches", "submit", "--tag", "t", "--message", "hi", "--deadline", deadline,
            "--estimate",
        )  # fmt: skip
        assert "deadline" in err
    err = refused(ab, "batches", "submit", "--tag", "none", "--message", "hi", "--estimate")
    assert "no agent matches" in err


def test_the_demo_names_a_missing_key_before_creating_anything(
    ab: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    err = refused(ab, "demo", "--model", "anthropic/claude-haiku-4-5")
    assert "ANTHROPIC_API_KEY" in err
    assert ab.json("agents", "list") == [] and ab.json("batches", "list") == []


def test_the_demo_has_a_size_limit(ab: Cli) -> None:
    result = ab("demo", "--agents", "99999999999", ok=False)
    assert result.exit_code == 2 and "--agents" in result.output
    assert not (ab.home / "agentbatch.db").exists()  # refused before anything was opened


def test_serve_on_a_port_in_use_is_one_line_and_exit_1(ab: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = refused(ab, "serve", "--port", str(port), code=1)
    assert f"127.0.0.1:{port}" in err and "in use" in err
