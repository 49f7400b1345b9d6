"""The dashboard's reads on SQLite and PostgreSQL: totals, failure groups, the finished
histogram, keyset pages of runs and an agent's transcript and memory history agree with
what the job did."""

from __future__ import annotations

from agentbatch.api.dashboard.data import Pages
from agentbatch.app import AgentBatch
from tests.helpers import make_agents, run_job

SCRIPT = [
    {
        "tool": "core_memory_append",
        "args": {"label": "human", "content": "likes {input}"},
        "heartbeat": True,
    },
    {"tool": "send_message", "args": {"message": "ok"}, "heartbeat": False},
]


async def test_pages_agree_with_the_job(app: AgentBatch) -> None:
    spec = {
        "blocks": [{"label": "human", "value": ""}],
        "tools": ["send_message", "core_memory_append"],
    }
    ok = await make_agents(app, 7, **spec)
    bad = await make_agents(
        app, 3, **spec, model_settings={"script": [{"tool": "send_message", "fail": "always"}]}
    )
    job = await run_job(app, ok + bad, script=SCRIPT, messages="tea", max_steps=2, max_attempts=1)
    pages = Pages(app.db)

    view = await pages.job(app.org_id, job["id"])
    assert view is not None and view["counts"] == {"completed": 7, "failed": 3}
    assert view["model_calls"] == job["usage"]["model_calls"] == 14
    assert view["tokens"]["input_tokens"] == job["usage"]["input_tokens"]
    (group,) = view["failures"]
    assert group["n"] == 3 and group["kind"] == "provider_error" and len(group["examples"]) == 3
    assert "scripted failure" in group["error"]
    assert str(view["chart"]).count("<rect") >= 1
    assert await pages.job("another-org", job["id"]) is None

    first = await pages.runs(job["id"], status=None, after=None, before=None)
    assert [r.id for r in first["rows"]] == sorted(r.id for r in first["rows"])
    assert len(first["rows"]) == 10 and first["next"] is None
    failed = await pages.runs(job["id"], status="failed", after=None, before=None)
    assert {r.agent_id for r in failed["rows"]} == set(bad)

    agent = await pages.agent(app.org_id, ok[0], before=None, run_id=None)
    assert agent is not None
    assert [m.kind for m in agent["messages"]] == [
        "input",
        "assistant",
        "tool",
        "heartbeat",
        "assistant",
        "tool",
    ]
    (block,) = agent["blocks"]
    assert block["block"].value == "likes tea"
    assert [e["row"].version for e in block["edits"]] == [2, 1]
    assert str(block["edits"][0]["diff"]) == "<ins>likes tea</ins>"
    assert await pages.agent("another-org", ok[0], before=None, run_id=None) is None

    listing = await pages.jobs(app.org_id, before=None, status=None)
    assert [j["job"].id for j in listing["jobs"]] == [job["id"]]
    assert listing["jobs"][0]["counts"] == view["counts"]
