"""The HTTP API as a user drives it: real uvicorn on 127.0.0.1, the httpx client, a worker
in the server process; two organisations that never see each other's objects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentbatch.client import ApiError, Client
from tests.e2e.http_support import mint_keys, serve

SCRIPT = [
    {
        "tool": "core_memory_append",
        "args": {"label": "human", "content": "likes {input}"},
        "heartbeat": True,
    },
    {"tool": "send_message", "args": {"message": "Noted: {input}"}, "heartbeat": False},
]
SHOUT = '''
def shout(text: str) -> str:
    """Say it louder.

    Args:
        text: what to say
    """
    return text.upper()
'''


def expect_error(status: int, code: str, call: Callable[[], Any]) -> ApiError:
    with pytest.raises(ApiError) as info:
        call()
    assert (info.value.status_code, info.value.code) == (status, code), info.value
    assert info.value.message
    return info.value


def test_two_organisations_over_http(database_url: str) -> None:
    key_a, key_b = mint_keys(database_url, "acme", "globex")
    with (
        serve(database_url) as server,
        Client(server.url, key_a) as a,
        Client(server.url, key_b) as b,
    ):
        team = a.create_block({"label": "team", "value": "Team:", "limit": 5000})
        tool = a.create_tool({"source": SHOUT})
        ids = [
            a.create_agent(
                {
                    "name": f"agent-{i}",
                    "model": "scripted/test",
                    "blocks": [{"label": "human", "value": "", "limit": 500}],
                    "block_ids": [team["id"]],
                    "tools": ["send_message", "core_memory_append", tool["name"]],
                }
            )["id"]
            for i in range(3)
        ]
        created = a.create_job(
            {
                "requests": [{"agent_id": i, "messages": f"tea {n}"} for n, i in enumerate(ids)],
                "max_steps": 5,
                "metadata": {"purpose": "e2e"},
                "options": {"script": SCRIPT},
            }
        )
        assert created["status"] == "created"
        assert created["request_count"] == 3
        job = a.wait_job(created["id"], timeout_s=60, poll_s=0.05)
        assert job["status"] == "completed"
        assert job["runs"]["completed"] == 3
        assert job["usage"]["model_calls"] == 6
        assert job["metadata"] == {"purpose": "e2e"}

        runs = a.list_runs(job["id"])
        assert {r["agent_id"] for r in runs["data"]} == set(ids)
        assert {r["reply"] for r in runs["data"]} == {
            "Noted: tea 0",
            "Noted: tea 1",
            "Noted: tea 2",
        }
        everything = list(a.iter_messages(job["id"], page_size=2))
        assert len(everything) == 3 * 6
        assert len({m["id"] for m in everything}) == len(everything)
        first = a.list_messages(job["id"], agent_id=ids[0])["data"]
        kinds = [m["kind"] for m in first]
        assert kinds == ["input", "assistant", "tool", "heartbeat", "assistant", "tool"]
        assert first[0]["content"] == "tea 0"
        human = next(bl for bl in a.get_agent(ids[0])["blocks"] if bl["label"] == "human")
        assert human["value"] == "likes tea 0"

        # the second organisation sees none of it ...
        assert b.list_agents()["data"] == []
        assert b.list_blocks()["data"] == []
        assert b.list_jobs()["data"] == []
        assert [t["name"] for t in b.list_tools()["data"] if t["id"]] == []
        for call in (
            lambda: b.get_agent(ids[0]),
            lambda: b.get_block(team["id"]),
            lambda: b.get_tool(tool["name"]),
            lambda: b.get_job(job["id"]),
            lambda: b.list_runs(job["id"]),
            lambda: b.list_messages(job["id"]),
            lambda: b.list_messages(job["id"], agent_id=ids[0]),
        ):
            expect_error(404, "not_found", call)
        # ... and can change none of it
        for call in (
            lambda: b.cancel_job(job["id"]),
            lambda: b.delete_agent(ids[0]),
            lambda: b.update_block(team["id"], {"value": "pwned"}),
            lambda: b.delete_block(team["id"]),
            lambda: b.delete_tool(tool["name"]),
        ):
            expect_error(404, "not_found", call)
        expect_error(
            422,
            "invalid_input",
            lambda: b.create_job({"requests": [{"agent_id": ids[0], "messages": "hi"}]}),
        )
        expect_error(
            422, "invalid_input", lambda: b.create_agent({"name": "x", "block_ids": [team["id"]]})
        )
        assert a.get_block(team["id"])["value"].startswith("Team:")
        assert a.get_tool(tool["name"])["name"] == "shout"
        assert len(a.list_agents()["data"]) == 3
        assert a.get_job(job["id"])["status"] == "completed"

        # the owner can change its own objects
        a.delete_agent(ids[2])
        expect_error(404, "not_found", lambda: a.get_agent(ids[2]))


def test_cancel_and_job_listing(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    (key,) = mint_keys(url, "acme")
    with serve(url) as server, Client(server.url, key) as c:
        ids = [c.create_agent({"name": f"a{i}", "model": "scripted/x"})["id"] for i in range(4)]
        slow = c.create_job(
            {
                "requests": [{"agent_id": i, "messages": "wait"} for i in ids[:2]],
                "options": {"polls": 1_000_000},
            }
        )
        quick = c.create_job({"requests": [{"agent_id": i, "messages": "hi"} for i in ids[2:]]})
        assert c.wait_job(quick["id"], timeout_s=60, poll_s=0.05)["status"] == "completed"
        # an agent runs in one job at a time
        busy = expect_error(
            409,
            "conflict",
            lambda: c.create_job({"requests": [{"agent_id": ids[0], "messages": "x"}]}),
        )
        assert ids[0] in busy.message

        cancelled = c.cancel_job(slow["id"])
        assert cancelled["status"] == "cancelled"
        assert cancelled["runs"]["cancelled"] == 2
        expect_error(409, "conflict", lambda: c.cancel_job(slow["id"]))
        assert {r["status"] for r in c.list_runs(slow["id"])["data"]} == {"cancelled"}

        newest = c.list_jobs(limit=1)
        assert [j["id"] for j in newest["data"]] == [quick["id"]] and newest["has_more"]
        older = c.list_jobs(limit=1, cursor=newest["next_cursor"])
        assert [j["id"] for j in older["data"]] == [slow["id"]] and not older["has_more"]
        assert [j["id"] for j in c.list_jobs(status="cancelled")["data"]] == [slow["id"]]
        assert c.list_jobs(status="failed")["data"] == []
        expect_error(422, "invalid_input", lambda: c.list_jobs(status="bogus"))
        page = c.list_agents(limit=3)
        rest = c.list_agents(limit=3, cursor=page["next_cursor"])
        assert len(page["data"]) == 3 and page["has_more"]
        assert len(rest["data"]) == 1 and not rest["has_more"]


def test_no_auth_mode_serves_the_default_organisation(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    with serve(url, auth=False) as server, Client(server.url) as c:
        assert c.health()["auth"] is False
        agent = c.create_agent({"name": "local", "model": "scripted/x"})
        job = c.create_job({"requests": [{"agent_id": agent["id"], "messages": "hello"}]})
        done = c.wait_job(job["id"], timeout_s=60, poll_s=0.05)
        assert done["status"] == "completed"
        replies = [r["reply"] for r in c.list_runs(job["id"])["data"]]
        assert replies == ["You said: hello"]


def test_openapi_is_served(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    with serve(url, with_worker=False) as server:
        import httpx

        spec = httpx.get(f"{server.url}/openapi.json").json()
        page = httpx.get(f"{server.url}/docs")
        assert page.status_code == 200 and "cdn" not in page.text.lower()
        assert "/docs/static/swagger-ui-bundle.js" in page.text  # served from the package
        script = httpx.get(f"{server.url}/docs/static/swagger-ui-bundle.js")
        assert script.status_code == 200 and len(script.content) > 100_000
    paths = spec["paths"]
    for path in (
        "/v1/agents",
        "/v1/agents/{agent_id}",
        "/v1/blocks/{block_id}",
        "/v1/tools/{name}",
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/cancel",
        "/v1/jobs/{job_id}/runs",
        "/v1/jobs/{job_id}/messages",
        "/v1/jobs/{job_id}/results",
        "/v1/jobs/{job_id}/export",
        "/v1/agents/{agent_id}/messages",
        "/v1/agents/{agent_id}/blocks/{block_id}",
        "/v1/agents/{agent_id}/tools/{name}",
    ):
        assert path in paths, path
    assert "patch" in paths["/v1/agents/{agent_id}"] and "patch" in paths["/v1/tools/{name}"]
    assert "ApiKey" in spec["components"]["securitySchemes"]
    error = paths["/v1/jobs/{job_id}"]["get"]["responses"]["404"]
    assert error["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
