"""The HTTP API for what day one needs: change an agent between two jobs through PATCH and
sub-resources (the second job's first request reflects it), read outcomes, results and
exports, and an agent's transcript; another organisation sees none of it."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import httpx

from tests.e2e.http_support import mint_keys, serve

NOTE = [{"tool": "core_memory_append", "args": {"label": "notes", "content": "met {input}"}}]


def test_edits_between_jobs_and_results_over_http(database_url: str) -> None:
    key, other = mint_keys(database_url, "acme", "globex")
    with (
        serve(database_url) as server,
        httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as http,
    ):

        def ok(response: httpx.Response, status: int = 200) -> Any:
            assert response.status_code == status, response.text
            return response.json()

        def run(text: str) -> dict[str, Any]:
            job = ok(
                http.post(
                    "/v1/jobs",
                    json={
                        "requests": [{"agent_id": agent["id"], "messages": text}],
                        "max_steps": 1,
                    },
                ),
                201,
            )
            for _ in range(600):
                job = ok(http.get(f"/v1/jobs/{job['id']}"))
                if job["status"] in ("completed", "failed"):
                    return job
                time.sleep(0.05)
            raise AssertionError("job did not end")

        agent = ok(
            http.post(
                "/v1/agents",
                json={"name": "ada", "model": "scripted/h", "model_settings": {"script": NOTE}},
            ),
            201,
        )
        block = ok(http.post("/v1/blocks", json={"label": "notes", "value": ""}), 201)
        first = run("monday")
        assert first["outcomes"] == {"max_steps": 1}  # the tool call failed: not its tool yet

        ok(http.post(f"/v1/agents/{agent['id']}/tools/core_memory_append"))
        ok(http.post(f"/v1/agents/{agent['id']}/blocks/{block['id']}"))
        patched = ok(
            http.patch(f"/v1/agents/{agent['id']}", json={"system": "Keep notes.", "tags": ["crm"]})
        )
        assert patched["tags"] == ["crm"] and patched["updated_at"] != agent["updated_at"]
        conflict = http.post(f"/v1/agents/{agent['id']}/blocks/{block['id']}")
        assert conflict.status_code == 409
        run("tuesday")
        assert ok(http.get(f"/v1/blocks/{block['id']}"))["value"] == "met tuesday"

        ok(http.delete(f"/v1/agents/{agent['id']}/blocks/{block['id']}"))
        ok(http.delete(f"/v1/agents/{agent['id']}/tools/core_memory_append"))
        third = run("wednesday")
        assert ok(http.get(f"/v1/blocks/{block['id']}"))["value"] == "met tuesday"

        results = ok(http.get(f"/v1/jobs/{third['id']}/results"))["data"]
        assert results[0]["agent_name"] == "ada" and results[0]["stop_reason"] == "max_steps"
        assert results[0]["input"] == "wednesday"
        bad = http.get(f"/v1/jobs/{third['id']}/results", params={"stop_reason": "done"})
        assert bad.status_code == 422 and "choose from final_reply" in bad.text
        exported = http.get(f"/v1/jobs/{third['id']}/export", params={"format": "csv"})
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [r["agent_name"] for r in rows] == ["ada"]
        line = json.loads(
            http.get(f"/v1/jobs/{third['id']}/export", params={"format": "openai"}).text
        )
        assert line["custom_id"] == agent["id"]

        transcript = ok(http.get(f"/v1/agents/{agent['id']}/messages", params={"limit": 1000}))
        inputs = [m["content"] for m in transcript["data"] if m["kind"] == "input"]
        assert inputs == ["monday", "tuesday", "wednesday"]
        assert len({m["job_id"] for m in transcript["data"]}) == 3

        stranger = {"Authorization": f"Bearer {other}"}
        for path in (
            f"/v1/agents/{agent['id']}/messages",
            f"/v1/jobs/{third['id']}/results",
            f"/v1/jobs/{third['id']}/export",
        ):
            assert http.get(path, headers=stranger).status_code == 404
        assert (
            http.patch(
                f"/v1/agents/{agent['id']}", json={"system": "x"}, headers=stranger
            ).status_code
            == 404
        )
