"""Submitting and changing things as a user would: an OpenAI Batch API input file in and
out, agents changed between two jobs, pre-flight of provider keys, and what `submit` says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentbatch.testing.server import free_port
from tests.e2e.cli_support import Cli

ECHO = [{"text": "answer: {input}"}]


@pytest.fixture
def ab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(tmp_path, monkeypatch)


def openai_line(custom_id: str, text: str, system: str | None = None) -> str:
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": [{"type": "text", "text": text}]}
    ]
    body = {"model": "gpt-4.1-mini", "messages": messages, "max_tokens": 100, "top_p": 0.5}
    return json.dumps(
        {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    )


def test_openai_batch_file_round_trip(ab: Cli) -> None:
    ada = ab.agent("ada", ECHO)
    lines = [
        openai_line("ada", "hello ada"),  # an existing agent, by name
        openai_line("ticket-1", "summarise ticket one", system="You label tickets."),
        openai_line("ticket-2", "summarise ticket two"),
    ]
    batch_file = ab.write("batch.jsonl", "\n".join(lines))
    template = ab.write(
        "template.json", {"model": "scripted/tpl", "model_settings": {"script": ECHO}}
    )

    refused = ab("batches", "submit", batch_file, ok=False)
    assert refused.exit_code == 2 and "'ticket-1', 'ticket-2'" in refused.stderr
    assert "--template" in refused.stderr
    assert ab.json("batches", "list") == [] and len(ab.json("agents", "list")) == 1

    job = ab.json("batches", "submit", batch_file, "--template", template, "--wait")
    assert job["status"] == "completed" and job["request_count"] == 3
    made = {a["name"]: a for a in ab.json("agents", "list", "--name", "ticket-1")}
    assert made["ticket-1"]["system"] == "You label tickets."
    assert made["ticket-1"]["model_settings"]["max_tokens"] == 100
    assert made["ticket-1"]["model_settings"]["openai"] == {"top_p": 0.5}

    out = ab("batches", "export", job["id"], "--format", "openai").stdout.splitlines()
    results = {o["custom_id"]: o for o in map(json.loads, out)}
    assert set(results) == {"ada", "ticket-1", "ticket-2"}
    body = results["ticket-2"]["response"]["body"]
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "answer: summarise ticket two"
    assert results["ticket-1"]["error"] is None and results["ada"]["response"]["status_code"] == 200
    assert ab.json("agents", "show", "ada")["id"] == ada

    bad = ab.write("bad.jsonl", openai_line("ada", "x").replace('"POST"', '"GET"'))
    wrong = ab("batches", "submit", bad, ok=False)
    assert wrong.exit_code == 2 and "line 1: method must be POST" in wrong.stderr


def test_changes_between_two_jobs_reach_the_second_jobs_first_request(ab: Cli) -> None:
    write_note = [
        {"tool": "core_memory_append", "args": {"label": "notes", "content": "met"}},
    ]
    ab.agent("ada", write_note, tools=["send_message"])
    request = ab.write("r.json", {"agent_id": "ada", "messages": "hi"})

    def run_job() -> dict[str, object]:
        ab.json("batches", "submit", request, "--max-steps", "1", "--wait")
        return ab.json("agents", "messages", "ada", "--all")[-1]

    before = run_job()
    assert before["kind"] == "tool" and before["is_error"]  # not the agent's tool yet

    block = ab.json("blocks", "create", "--label", "notes", "--value", "")["id"]
    ab("agents", "attach-tool", "ada", "core_memory_append")
    ab("agents", "attach-block", "ada", block[:12])
    ab(
        "agents",
        "update",
        "ada",
        "--system",
        "You keep notes.",
        "--tag",
        "crm",
        "--set",
        "max_tokens=64",
    )
    after = run_job()
    assert not after["is_error"], after
    assert ab.json("blocks", "show", block)["value"] == "met"
    agent = ab.json("agents", "show", "ada")
    assert (agent["system"], agent["tags"], agent["model_settings"]["max_tokens"]) == (
        "You keep notes.",
        ["crm"],
        64,
    )

    refused = ab("blocks", "delete", block, ok=False)
    assert refused.exit_code == 2 and "detach-block" in refused.stderr
    unknown_block = ab("blocks", "show", "notes", ok=False)  # a label is not a block id
    assert unknown_block.stderr.strip() == "error: no block has the id or id prefix 'notes'"
    ab("agents", "detach-block", "ada", "notes")  # but the agent's block of that label
    again = ab("agents", "detach-block", "ada", "notes", ok=False)  # attached no more
    assert again.exit_code == 2 and "has no block with the id or label 'notes'" in again.stderr
    ab("agents", "detach-tool", "ada", "core_memory_append")
    assert run_job()["is_error"]
    ab("blocks", "delete", block)
    unknown = ab("agents", "attach-tool", "ada", "no_such_tool", ok=False)
    assert unknown.exit_code == 2 and "unknown tool" in unknown.stderr
    typo = ab("agents", "create", "--name", "typo", "--tool", "send_mesage", ok=False)
    assert typo.exit_code == 2
    assert "unknown tool(s): 'send_mesage' (did you mean 'send_message'?)" in typo.stderr


def test_tool_update_and_masked_environment(ab: Cli) -> None:
    source = ab.write(
        "shout.py",
        'def shout(text: str) -> str:\n    """Shout.\n\n    Args:\n        text: Words.\n    """\n'
        "    return text.upper()\n",
    )
    ab("tools", "create", "--file", source, "--env", "API_TOKEN=s3cr3t-value")
    shown = ab("tools", "show", "shout").stdout
    assert "s3cr3t-value" not in shown and '"API_TOKEN": "****"' in shown
    ab("tools", "update", "shout", "--description", "Shout louder.", "--env", "OTHER=x")
    tool = ab.json("tools", "show", "shout")
    assert tool["description"] == "Shout louder." and tool["settings"]["env"] == {
        "API_TOKEN": "****",
        "OTHER": "****",
    }
    nope = ab("tools", "update", "shout", "--unset-env", "NOPE", ok=False)
    assert nope.exit_code == 2
    assert "tool 'shout' has no variable 'NOPE' (it has API_TOKEN, OTHER)" in nope.stderr
    network = ab("tools", "update", "shout", "--allow-network", ok=False)  # operator forbids
    assert network.exit_code == 2 and "AGENTBATCH_TOOLS_ALLOW_NETWORK" in network.stderr
    renamed = ab.write("other.py", source and Path(source).read_text().replace("shout", "yell"))
    refused = ab("tools", "update", "shout", "--file", renamed, ok=False)
    assert refused.exit_code == 2 and "keeps its name" in refused.stderr


def test_preflight_refuses_a_job_whose_provider_has_no_key(
    ab: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    ab.agent("claude", model="anthropic/claude-haiku-4-5")
    ab.agent("gpt", model="openai/gpt-4.1-mini")
    request = ab.write(
        "r.jsonl",
        "\n".join(json.dumps({"agent_id": n, "messages": "hi"}) for n in ("claude", "gpt")),
    )
    refused = ab("batches", "submit", request, ok=False)
    assert refused.exit_code == 2
    assert "ANTHROPIC_API_KEY" in refused.stderr and "OPENAI_API_KEY" in refused.stderr
    assert "nothing was submitted" in refused.stderr
    assert ab.json("batches", "list") == []

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{free_port()}")  # nobody there
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    unreachable = ab("batches", "submit", request, ok=False)
    assert unreachable.exit_code == 1 and "--no-preflight" in unreachable.stderr  # could not run
    assert ab.json("batches", "list") == []

    accepted = ab("batches", "submit", request, "--no-preflight")
    assert "a worker runs the job" in accepted.stderr and "agentbatch worker" in accepted.stderr
    assert len(ab.json("batches", "list")) == 1


def test_ctrl_c_while_waiting_says_the_job_goes_on(ab: Cli) -> None:
    import os
    import signal
    import subprocess
    import sys

    ab.agent("ada", ECHO)
    job = ab.json("batches", "submit", ab.write("r.json", {"agent_id": "ada", "messages": "x"}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentbatch.cli.main", "batches", "wait", job["id"], "--no-worker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AGENTBATCH_HOME": str(ab.home)},
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # it is watching (no worker: the job cannot end meanwhile)
    assert "Ctrl-C stops watching, the job goes on" in first
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=30)
    err = first + rest
    assert proc.returncode == 130
    assert f"job {job['id']} goes on (it is not cancelled)" in " ".join(err.split())
    assert f"agentbatch batches wait {job['id']}" in " ".join(err.split())
    assert ab.json("batches", "show", job["id"])["status"] == "created"


def test_model_settings_are_checked_by_agents_update(ab: Cli) -> None:
    ab.agent("s1", ECHO)
    bad = ab("agents", "update", "s1", "--set", "max_tokens=abc", ok=False)
    assert bad.exit_code == 2 and "Traceback" not in bad.stderr
    assert "model_settings.max_tokens must be a whole number" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    typo = ab("agents", "update", "s1", "--set", "max_token=5", ok=False)
    assert typo.exit_code == 2 and "did you mean 'max_tokens'?" in typo.stderr
    assert ab.json("agents", "show", "s1")["model_settings"] == {"script": ECHO}

    ab("agents", "update", "s1", "--set", "max_tokens=64", "--set", "temperature=0.2")
    ab("agents", "update", "s1", "--unset", "temperature")
    settings = ab.json("agents", "show", "s1")["model_settings"]
    assert settings == {"script": ECHO, "max_tokens": 64}
    missing = ab("agents", "update", "s1", "--unset", "temperature", ok=False)
    assert missing.exit_code == 2 and "no model setting 'temperature'" in missing.stderr
