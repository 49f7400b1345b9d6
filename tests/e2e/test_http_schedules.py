"""Schedules, selectors, tag selections and estimates over HTTP (real server, httpx
client): each organisation sees only its own; bad input is a 4xx with the error shape."""

from __future__ import annotations

from agentbatch.client import Client
from tests.e2e.http_support import mint_keys, serve
from tests.e2e.test_http_api import expect_error


def test_schedules_and_selections_over_http(database_url: str) -> None:
    key_a, key_b = mint_keys(database_url, "acme", "globex")
    with (
        serve(database_url) as server,
        Client(server.url, key_a) as a,
        Client(server.url, key_b) as b,
    ):
        for i in range(3):
            a.create_agent({"name": f"n{i}", "model": "scripted/x", "tags": ["night"]})
        b.create_agent({"name": "theirs", "model": "scripted/x", "tags": ["night"]})
        assert len(a.list_agents(tags=["night"])["data"]) == 3
        assert a.list_agents(tags=["night", "vip"])["data"] == []
        selector = a.create_selector("night", {"tags": ["night"]})
        assert selector["matching_agents"] == 3
        expect_error(409, "conflict", lambda: a.create_selector("night", {"tags": ["x"]}))
        expect_error(404, "not_found", lambda: b.get_selector("night"))
        estimate = a.estimate_job({"selector": "night", "messages": "Hi {{agent.name}}"})
        assert estimate["requests"] == 3 and estimate["input_tokens"] > 0
        assert a.list_jobs()["data"] == []
        job = a.create_job({"selector": "night", "messages": "Hi {{agent.name}}", "deadline": "2h"})
        assert job["request_count"] == 3 and job["deadline"] is not None
        done = a.wait_job(job["id"], timeout_s=60)
        assert done["status"] == "completed" and done["routes"]["batch"]["requests"] == 3
        schedule = a.create_schedule(
            {
                "cron": "30 1 * * *",
                "selector": "night",
                "messages": "Consolidate.",
                "max_cost_usd": 5,
            }
        )
        assert schedule["status"] == "active" and len(schedule["next_fire_times"]) == 5
        assert [s["id"] for s in a.list_schedules()["data"]] == [schedule["id"]]
        assert b.list_schedules()["data"] == []
        expect_error(404, "not_found", lambda: b.get_schedule(schedule["id"]))
        expect_error(404, "not_found", lambda: b.pause_schedule(schedule["id"]))
        assert a.pause_schedule(schedule["id"])["status"] == "paused"
        expect_error(409, "conflict", lambda: a.pause_schedule(schedule["id"]))
        assert a.resume_schedule(schedule["id"])["status"] == "active"
        expect_error(
            422,
            "invalid_input",
            lambda: a.create_schedule(
                {"cron": "* * *", "agents": {"tags": ["x"]}, "messages": "m"}
            ),
        )
        expect_error(
            422,
            "invalid_input",
            lambda: a.create_job({"agents": {"tags": ["night"]}, "messages": "{{agent.secret}}"}),
        )
        expect_error(422, "invalid_input", lambda: a.create_job({"agents": {}, "messages": "x"}))
        a.delete_schedule(schedule["id"])
        expect_error(404, "not_found", lambda: a.get_schedule(schedule["id"]))
        a.delete_selector("night")
        expect_error(404, "not_found", lambda: a.get_selector("night"))
