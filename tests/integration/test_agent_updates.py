"""Changing an agent between two jobs: the second job's first request reflects every change
(system prompt, settings, tools, rules, blocks), on SQLite and PostgreSQL, through one
long-lived runtime (its caches must notice the change)."""

from __future__ import annotations

import pytest

from agentbatch.app import AgentBatch
from agentbatch.errors import Conflict, InvalidInput, NotFound
from agentbatch.testing.recording import RecordingProvider


async def _run(app: AgentBatch, agent_id: str, text: str) -> dict[str, object]:
    job = await app.jobs.create_job(
        app.org_id, {"requests": [{"agent_id": agent_id, "messages": text}], "max_steps": 2}
    )
    return await app.run_job(job["id"], timeout_s=60)


async def test_update_and_attach_reach_the_next_job(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    agent = await app.agents.create_agent(
        app.org_id,
        {"name": "ada", "model": "scripted/x", "system": "old prompt", "tools": ["send_message"]},
    )
    block = await app.agents.create_block(app.org_id, {"label": "team", "value": "shared note"})
    await _run(app, agent["id"], "first")
    first = recorder.requests[agent["id"]][0]
    assert first.system.startswith("old prompt") and "shared note" not in first.system
    assert [t.name for t in first.tools] == ["send_message"]

    await app.agent_edits.update_agent(
        app.org_id,
        agent["id"],
        {"system": "new prompt", "model_settings": {"max_tokens": 77}, "tags": ["nightly"]},
    )
    await app.agent_edits.attach_tool(app.org_id, agent["id"], "core_memory_append")
    changed = await app.agent_edits.attach_block(app.org_id, agent["id"], block["id"])
    assert changed["tags"] == ["nightly"] and [b["label"] for b in changed["blocks"]] == ["team"]

    await _run(app, agent["id"], "second")
    second = recorder.requests[agent["id"]][-1]
    assert second.system.startswith("new prompt") and "shared note" in second.system
    assert second.max_tokens == 77
    assert {t.name for t in second.tools} == {"send_message", "core_memory_append"}

    await app.agent_edits.detach_block(app.org_id, agent["id"], block["id"])
    await app.agent_edits.detach_tool(app.org_id, agent["id"], "core_memory_append")
    await _run(app, agent["id"], "third")
    third = recorder.requests[agent["id"]][-1]
    assert "shared note" not in third.system
    assert [t.name for t in third.tools] == ["send_message"]
    await app.agents.delete_block(app.org_id, block["id"])  # detached: now deletable


async def test_bad_updates_are_refused_and_change_nothing(app: AgentBatch) -> None:
    agent = await app.agents.create_agent(
        app.org_id,
        {
            "name": "bo",
            "model": "scripted/x",
            "tools": ["send_message", "core_memory_append"],
            "tool_rules": [{"type": "terminal", "tool": "send_message"}],
        },
    )
    with pytest.raises(InvalidInput, match="unknown tool"):
        await app.agent_edits.update_agent(app.org_id, agent["id"], {"tools": ["nope"]})
    with pytest.raises(InvalidInput, match="does not have"):
        await app.agent_edits.update_agent(
            app.org_id, agent["id"], {"tools": ["core_memory_append"]}
        )
    with pytest.raises(Conflict, match="rules name"):
        await app.agent_edits.detach_tool(app.org_id, agent["id"], "send_message")
    with pytest.raises(InvalidInput, match="llm_config"):
        await app.agent_edits.update_agent(app.org_id, agent["id"], {"llm_config": {}})
    with pytest.raises(NotFound):
        await app.agent_edits.attach_block(app.org_id, agent["id"], "block-missing")
    unchanged = await app.agents.get_agent(app.org_id, agent["id"])
    assert unchanged["tools"] == ["send_message", "core_memory_append"]
    assert unchanged["updated_at"] == agent["updated_at"]


async def test_tool_update_keeps_secret_values_and_merges_env(app: AgentBatch) -> None:
    from agentbatch.store.agents_repo import tool_rows

    source = 'def ping(x: str) -> str:\n    """Ping.\n\n    Args:\n        x: Text.\n    """\n    return x\n'
    await app.tools.create_tool(app.org_id, {"source": source, "env": {"TOKEN": "t0p", "OLD": "1"}})
    shown = await app.tools.update_tool(app.org_id, "ping", {"env": {"NEW": "2", "OLD": None}})
    assert shown["settings"]["env"] == {"TOKEN": "****", "NEW": "****"}
    async with app.db.read() as conn:
        stored = (await tool_rows(conn, app.org_id, ["ping"]))[0].settings["env"]
    assert stored == {"TOKEN": "t0p", "NEW": "2"}  # what the sandbox gets
