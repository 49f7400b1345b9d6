"""`agentbatch tools ...` as a user runs it: separate processes on the embedded SQLite
store in a temporary AGENTBATCH_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SHOUT = '''
def shout(text: str, times: int = 1) -> str:
    """Shout the text back.

    Args:
        text: What to shout.
        times: How many times.
    """
    return " ".join([text.upper() + "!"] * times)
'''

BAD_SOURCES = {
    "no_docstring": (
        "def f(x: int) -> int:\n    return x\n",
        "function 'f' has no docstring",
    ),
    "syntax_error": (
        'def f(x: int) -> int:\n    """Doc."""\n    return x +\n',
        "syntax error at line 3",
    ),
    "two_functions": (
        'def f(x: int) -> int:\n    """Doc."""\n    return x\n\n\n'
        'def g(y: int) -> int:\n    """Doc."""\n    return y\n',
        "several public functions ('f', 'g')",
    ),
    "brackets_in_the_message": (  # the error text is printed as is, not as markup
        'def f(x: "list[/x]") -> int:\n    """Doc."""\n    return 1\n',
        "cannot read type hint 'list[/x]'",
    ),
}


class Cli:
    """Runs `python -m agentbatch.cli.main ...` in ``workdir`` with its own home."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("AGENTBATCH_") and not key.endswith("_API_KEY")
        }
        self.env.update(
            AGENTBATCH_HOME=str(workdir / "home"),
            AGENTBATCH_SEND_DELAY="0",
            AGENTBATCH_IDLE_SLEEP="0.02",
            COLUMNS="200",
        )

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "agentbatch.cli.main", *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if ok:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def write(self, name: str, text: str) -> str:
        (self.workdir / name).write_text(text, encoding="utf-8")
        return name


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def assert_one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_create_list_show_and_delete_a_tool(cli: Cli) -> None:
    created = cli("tools", "create", "--file", cli.write("my_tool.py", SHOUT))
    assert "created tool shout: Shout the text back." in created.stdout
    assert "text (string, required), times (integer, default 1)" in created.stdout

    listing = cli("tools", "list").stdout
    rows = {line.split()[1]: line for line in listing.splitlines() if line.startswith("│")}
    assert "custom" in rows["shout"] and "Shout the text back." in rows["shout"]
    for builtin in ("send_message", "core_memory_append", "conversation_search"):
        assert "built-in" in rows[builtin]
    assert {t["name"] for t in cli.json("tools", "list")} >= {"shout", "send_message"}

    shown = json.loads(cli("tools", "show", "shout").stdout)
    assert shown["description"] == "Shout the text back."
    assert shown["parameters"] == {
        "type": "object",
        "properties": {
            "text": {"type": "string", "description": "What to shout."},
            "times": {"type": "integer", "description": "How many times.", "default": 1},
        },
        "required": ["text"],
    }
    assert shown["source"] == SHOUT

    assert_one_line_error(
        cli("tools", "create", "--file", "my_tool.py", ok=False), "already exists"
    )

    assert "deleted shout" in cli("tools", "delete", "shout").stdout
    assert "shout" not in {t["name"] for t in cli.json("tools", "list")}
    assert_one_line_error(cli("tools", "show", "shout", ok=False), "tool 'shout' not found")
    assert_one_line_error(
        cli("tools", "delete", "send_message", ok=False), "built-in tool", "send_message"
    )


def test_create_stores_env_timeout_and_memory_limit(cli: Cli) -> None:
    source = cli.write(
        "whoami.py",
        'def whoami(agent_id: str, memory: dict) -> str:\n    """Who am I."""\n'
        "    return agent_id\n",
    )
    created = cli("tools", "create", "--file", source, "--env", "REGION=eu", "--env", "A=b=c")
    assert "parameters: none" in created.stdout
    assert "injected by the runtime: agent_id, memory" in created.stdout
    settings = json.loads(cli("tools", "show", "whoami").stdout)["settings"]
    assert settings["env"] == {"REGION": "****", "A": "****"}  # values are secrets: masked
    assert settings["wants_agent_id"] and settings["wants_memory"]

    other = cli.write("other.py", SHOUT)
    tool = cli.json("tools", "create", "--file", other, "--timeout", "2.5", "--memory-mb", "64")
    assert (tool["settings"]["timeout_s"], tool["settings"]["memory_mb"]) == (2.5, 64)

    bad_env = cli("tools", "create", "--file", other, "--env", "NOVALUE", ok=False)
    assert bad_env.returncode != 0 and "NAME=value" in bad_env.stderr
    assert "Traceback" not in bad_env.stderr


@pytest.mark.parametrize("case", list(BAD_SOURCES))
def test_bad_source_exits_with_a_one_line_error(cli: Cli, case: str) -> None:
    source, message = BAD_SOURCES[case]
    done = cli("tools", "create", "--file", cli.write(f"{case}.py", source), ok=False)
    assert done.returncode == 2
    assert_one_line_error(done, "tool source", message)
    assert done.stdout == ""


def test_tool_used_by_an_agent_cannot_be_deleted_and_runs_in_a_job(cli: Cli) -> None:
    cli("tools", "create", "--file", cli.write("my_tool.py", SHOUT))
    agent = cli.json(
        "agents", "create", "--name", "loud", "--tool", "shout", "--tool", "send_message"
    )

    refused = cli("tools", "delete", "shout", ok=False)
    assert refused.returncode == 2
    assert_one_line_error(refused, "tool 'shout' is used by 1 agent(s) ('loud')", "remove it")
    assert "shout" in {t["name"] for t in cli.json("tools", "list")}

    # the agent calls it in a job run by this CLI's own worker
    cli.write("requests.json", json.dumps([{"agent_id": agent["id"], "messages": "hey"}]))
    script = [
        {"tool": "shout", "args": {"text": "{input}", "times": 2}, "heartbeat": True},
        {"tool": "send_message", "args": {"message": "done"}, "heartbeat": False},
    ]
    cli.write("script.json", json.dumps(script))
    job = cli.json("batches", "submit", "requests.json", "--script", "script.json", "--wait")
    assert job["status"] == "completed"
    messages = cli.json("batches", "messages", job["id"])
    tool_results = [json.loads(m["content"]) for m in messages if m["kind"] == "tool"]
    assert tool_results[0] == {"status": "OK", "message": "HEY! HEY!"}
