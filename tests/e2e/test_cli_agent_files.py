"""`agentbatch agents import FILE.af` and `agents export ID... > out.af` as a user runs them
(separate processes, the embedded SQLite store in a temporary home)."""

from __future__ import annotations

import json

from tests.e2e.test_cli_tools import Cli, assert_one_line_error, cli  # noqa: F401
from tests.letta_files import agent_file


def test_import_export_and_errors_from_the_command_line(cli: Cli) -> None:  # noqa: F811
    doc = agent_file()
    doc["tools"].append({"id": "tool-9", "tool_type": "letta_builtin", "name": "web_search"})
    doc["agents"][0]["tool_ids"].append("tool-9")
    out = cli("agents", "import", cli.write("team.af", json.dumps(doc))).stdout
    assert "agent-0" in out and "ada" in out and "7 in context" in out
    assert "not imported: tool web_search" in out
    assert "3 block(s) (1 shared)" in out
    # AGENT is an id, a unique id prefix or a name, as everywhere else
    by_name = json.loads(cli("agents", "export", "ada", "bob").stdout)
    assert [a["name"] for a in by_name["agents"]] == ["ada", "bob"]
    ada_id = cli.json("agents", "show", "ada")["id"]
    assert json.loads(cli("agents", "export", ada_id[:-3]).stdout)["agents"][0]["name"] == "ada"
    missing = cli("agents", "export", "ada", "nobody", "-o", "partial.af", ok=False)
    assert_one_line_error(missing, "no agent has the id", "'nobody'")
    assert missing.stdout == "" and not (cli.workdir / "partial.af").exists()

    second = cli("agents", "import", "team.af", "--model", "scripted/x", "--json")
    report = json.loads(second.stdout)
    assert "other agents are also named ada, bob" in " ".join(second.stderr.split())
    assert report["tools"]["reused"] == ["word_count", "shout"]
    ids = [a["id"] for a in report["agents"]]
    assert {a["model"] for a in report["agents"]} == {"scripted/x"}

    exported = json.loads(cli("agents", "export", *ids).stdout)  # > out.af
    assert [a["name"] for a in exported["agents"]] == ["ada", "bob"]
    assert len(exported["blocks"]) == 3  # the shared block once
    cli("agents", "export", ids[0], "-o", "ada.af")
    again = cli.json("agents", "import", "ada.af")
    assert again["not_imported"] == [] and again["agents"][0]["messages"] == 9

    strict = cli("agents", "import", "team.af", "--strict", ok=False)
    assert_one_line_error(strict, "strict import", "tool web_search")
    bad = dict(doc, agents=[dict(doc["agents"][0], in_context_message_ids=["message-99"])])
    invalid = cli("agents", "import", cli.write("bad.af", json.dumps(bad)), ok=False)
    assert_one_line_error(invalid, "agents[0].in_context_message_ids[0]", "message-99")
    assert_one_line_error(
        cli("agents", "import", cli.write("x.af", "{not json"), ok=False), "not valid JSON"
    )
    assert_one_line_error(cli("agents", "export", "agent-nope", ok=False), "no agent", "agent-nope")
    assert len(cli.json("agents", "list")) == 5  # 2 + 2 + 1 imported; failures wrote nothing
