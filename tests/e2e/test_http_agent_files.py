"""Agent File import and export over HTTP (our client), scoped per organisation."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentbatch.client import ApiError, Client
from tests.e2e.http_support import mint_keys, serve
from tests.letta_files import agent_file


def test_import_and_export_over_http(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    key_a, key_b = mint_keys(url, "org-a", "org-b")
    with serve(url, with_worker=False) as server, Client(server.url, key_a) as a:
        report = a.import_agent_file(agent_file(), model="scripted/http")
        assert [x["model"] for x in report["agents"]] == ["scripted/http"] * 2
        ids = [x["id"] for x in report["agents"]]
        exported = a.export_agents(ids)
        assert [x["name"] for x in exported["agents"]] == ["ada", "bob"]
        assert a._call("GET", f"/v1/agents/{ids[0]}/export")["agents"][0]["name"] == "ada"
        letta = a._call("GET", f"/letta/v1/agents/{ids[0]}/export")
        assert letta["agents"][0]["messages"] == exported["agents"][0]["messages"]

        bad = agent_file()
        bad["agents"][0]["tool_ids"] = ["tool-0", "tool-7"]
        with pytest.raises(ApiError) as info:
            a.import_agent_file(bad)
        assert info.value.status_code == 422
        assert "agents[0].tool_ids[1]: no tool with id 'tool-7'" in info.value.message

        with Client(server.url, key_b) as b:  # another organisation sees nothing of org-a
            with pytest.raises(ApiError) as info:
                b.export_agents(ids)
            assert info.value.status_code == 404
            assert b.import_agent_file(agent_file())["tools"]["created"] == ["word_count", "shout"]
