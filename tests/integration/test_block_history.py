"""Block history, on SQLite and PostgreSQL: one row per value a block took, written with
the edit itself: at creation, per API update, and per memory-tool write in an apply pass
(a shared block written by many agents in one pass gets one row per write, versions in
order, each naming its run and step)."""

from __future__ import annotations

from itertools import pairwise

from sqlalchemy import select

from agentbatch.app import AgentBatch
from agentbatch.store.tables import block_history
from tests.helpers import make_agents, run_job

SCRIPT = [
    {
        "tool": "core_memory_append",
        "args": {"label": "team", "content": "{agent_id}"},
        "heartbeat": True,
    },
    {"tool": "send_message", "args": {"message": "ok"}, "heartbeat": False},
]


async def test_every_edit_is_a_history_row(app: AgentBatch) -> None:
    shared = await app.agents.create_block(
        app.org_id, {"label": "team", "value": "Team log:", "limit": 20000}
    )
    await app.agents.update_block(app.org_id, shared["id"], {"value": "Team log (v2):"})
    ids = await make_agents(
        app, 12, block_ids=[shared["id"]], tools=["send_message", "core_memory_append"]
    )
    job = await run_job(app, ids, script=SCRIPT, max_steps=2)
    assert job["status"] == "completed"

    async with app.db.read() as conn:
        rows = (
            await conn.execute(
                select(block_history)
                .where(block_history.c.block_id == shared["id"])
                .order_by(block_history.c.version)
            )
        ).all()
    assert [r.version for r in rows] == list(range(1, 15))
    assert [r.source for r in rows[:2]] == ["create", "api"]
    assert rows[0].value == "Team log:" and rows[1].value == "Team log (v2):"
    tool_rows = rows[2:]
    assert {r.agent_id for r in tool_rows} == set(ids)
    assert all(
        r.source == "tool" and r.tool == "core_memory_append" and r.step == 0 for r in tool_rows
    )
    for before, after in pairwise(rows[1:]):  # each write builds on the last
        assert after.value == f"{before.value}\n{after.agent_id}"
    final = await app.agents.get_block(app.org_id, shared["id"])
    assert final["value"] == rows[-1].value and final["version"] == rows[-1].version
