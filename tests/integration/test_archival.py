"""Archival memory: insert and search through the batch step cycle (the insert exactly once,
in the apply transaction), shared archives, and ranking among 10,000 passages."""

from __future__ import annotations

import json

from sqlalchemy import select

from agentbatch.app import AgentBatch
from agentbatch.archival_bench import fixture, load_fixture
from agentbatch.embeddings import embedder_for
from agentbatch.store import passages
from agentbatch.store.tables import passages as passages_table
from tests.helpers import make_agents, run_job

PASSAGE = "The spare key to the boathouse hangs behind the barometer in the hallway."
INSERT = [
    {"tool": "archival_memory_insert", "args": {"content": PASSAGE}, "heartbeat": False},
]
SEARCH = [
    {
        "tool": "archival_memory_search",
        "args": {"query": "where is the boathouse key"},
        "heartbeat": True,
    },
    {"tool": "send_message", "args": {"message": "found"}, "heartbeat": False},
]
TOOLS = ["send_message", "archival_memory_insert", "archival_memory_search"]


async def _tool_output(app: AgentBatch, job_id: str, agent_id: str) -> dict:
    history = await app.jobs.job_messages(None, job_id, agent_id=agent_id)
    return json.loads(next(m for m in history if m["kind"] == "tool")["content"])


async def test_insert_then_search_round_trip(app: AgentBatch) -> None:
    [writer, other] = await make_agents(app, 2, tools=TOOLS)
    job = await run_job(app, [writer], script=INSERT)
    assert job["status"] == "completed"
    assert (await _tool_output(app, job["id"], writer))["status"] == "OK"
    async with app.db.read() as conn:
        rows = (await conn.execute(select(passages_table.c.archive, passages_table.c.text))).all()
    assert rows == [(passages.own_archive(writer), PASSAGE)]  # exactly once

    job = await run_job(app, [writer, other], script=SEARCH, max_steps=2)
    found = json.loads((await _tool_output(app, job["id"], writer))["message"])
    assert found[0]["content"] == PASSAGE
    # another agent's archive is its own: it finds nothing
    assert "No passages" in (await _tool_output(app, job["id"], other))["message"]
    agent = await app.agents.get_agent(app.org_id, writer, context=True)
    assert agent["context"]["passages"] == 1


async def test_shared_archive(app: AgentBatch) -> None:
    [a, b] = await make_agents(app, 2, tools=TOOLS, archive="team-notes")
    await run_job(app, [a], script=INSERT)
    job = await run_job(app, [b], script=SEARCH, max_steps=2)
    found = json.loads((await _tool_output(app, job["id"], b))["message"])
    assert found[0]["content"] == PASSAGE


async def test_the_relevant_passage_comes_first_among_ten_thousand(app: AgentBatch) -> None:
    texts, queries = fixture(10_000)
    archive = passages.own_archive("agent-fixture")
    model = await load_fixture(app.db, app.org_id, archive, texts)
    embedder = embedder_for("local")
    for question, index in queries:
        vector = (await embedder.embed([question]))[0]
        async with app.db.read() as conn:
            hits = await passages.search(
                conn,
                app.db,
                org_id=app.org_id,
                archive=archive,
                model=model,
                query=vector,
                offset=0,
                limit=3,
            )
        assert hits[0][1] == texts[index], question
    async with app.db.read() as conn:  # another organisation sees none of them
        assert await passages.count(conn, "other-org", archive) == 0
