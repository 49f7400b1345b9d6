"""Agent File import and export on SQLite and PostgreSQL: round trips, reports of what is
not imported, one transaction, and imported agents running a batch job."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from agentbatch.app import AgentBatch
from agentbatch.errors import Conflict, InvalidInput
from agentbatch.store.tables import agents, blocks, messages, tools
from agentbatch.testing.recording import RecordingProvider
from tests.helpers import history, make_agents, run_job
from tests.letta_files import agent_file


def content(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """What both Letta and agentbatch model, per agent, with file ids resolved: the same
    content has the same value whatever ids and timestamps the files use."""
    blocks_by_id = {b["id"]: b for b in doc["blocks"]}
    tools_by_id = {t["id"]: t for t in doc["tools"]}
    sharing = {}
    for a in doc["agents"]:
        for ref in a["block_ids"]:
            sharing.setdefault(ref, []).append(a["name"])
    out = []
    for a in doc["agents"]:
        msgs = {m["id"]: m for m in a["messages"]}
        window = a["in_context_message_ids"]
        assert msgs[window[0]]["role"] == "system"  # the compiled prompt opens the window
        out.append(
            {
                "name": a["name"],
                "system": a["system"],
                "handle": a["llm_config"]["handle"],
                "max_tokens": a["llm_config"].get("max_tokens"),
                "temperature": a["llm_config"].get("temperature"),
                "autoclear": a["message_buffer_autoclear"],
                "tags": a["tags"],
                "metadata": a["metadata"],
                "blocks": [
                    {
                        k: blocks_by_id[r][k]
                        for k in ("label", "value", "limit", "description", "read_only")
                    }
                    | {"shared_with": sharing[r]}
                    for r in a["block_ids"]
                ],
                "tools": [_tool(tools_by_id[t]) for t in a["tool_ids"]],
                "rules": [{k: v for k, v in r.items() if v is not None} for r in a["tool_rules"]],
                "messages": [
                    _message(m, m["id"] in window) for m in a["messages"] if m["id"] != window[0]
                ],
            }
        )
    return out


def _tool(t: dict[str, Any]) -> dict[str, Any]:
    out = {"name": t["name"], "custom": t["tool_type"] == "custom"}
    if out["custom"]:
        out.update(source=t["source_code"], parameters=t["json_schema"]["parameters"])
        out["requirements"] = t["pip_requirements"]
    return out


def _message(m: dict[str, Any], in_context: bool) -> dict[str, Any]:
    return {
        "role": m["role"],
        "in_context": in_context,
        "content": m["content"],
        "tool_calls": m.get("tool_calls") or None,
        "tool_returns": m.get("tool_returns"),
    }


async def _count(app: AgentBatch, table: Any) -> int:
    async with app.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_import_then_export_gives_the_same_content(app: AgentBatch) -> None:
    original = agent_file()
    report = await app.agent_files.import_file(app.org_id, original)

    assert report["not_imported"] == [] and report["mapped"] == []
    assert [a["file_id"] for a in report["agents"]] == ["agent-0", "agent-1"]
    assert report["shared_blocks"] == 1 and report["blocks"] == 3
    assert report["tools"] == {"created": ["word_count", "shout"], "reused": []}
    ada, bob = [await app.agents.get_agent(app.org_id, a["id"]) for a in report["agents"]]
    team = next(b for b in ada["blocks"] if b["label"] == "team")
    assert team["id"] in {b["id"] for b in bob["blocks"]}  # one shared row, not two copies
    assert len(bob["tool_rules"]) == 8  # every kind Letta and agentbatch share

    exported = await app.agent_files.export_agents(app.org_id, [ada["id"], bob["id"]])
    assert content(exported) == content(original)
    # and the exported file is itself a valid Agent File that round-trips again
    again = await app.agent_files.import_file(app.org_id, json.loads(json.dumps(exported)))
    assert again["tools"] == {"created": [], "reused": ["word_count", "shout"]}
    twice = await app.agent_files.export_agents(app.org_id, [a["id"] for a in again["agents"]])
    assert content(twice) == content(original)


async def test_parallel_tool_calls_keep_their_pairs_and_the_window(app: AgentBatch) -> None:
    report = await app.agent_files.import_file(app.org_id, agent_file())
    ada = report["agents"][0]
    assert ada["messages"] == 9 and ada["in_context"] == 7
    async with app.db.read() as conn:
        rows = (
            await conn.execute(
                select(messages).where(messages.c.agent_id == ada["id"]).order_by(messages.c.id)
            )
        ).all()
    assert [(r.role, r.kind, r.in_context) for r in rows] == [
        ("user", "input", False),
        ("assistant", "assistant", False),
        ("user", "input", True),
        ("assistant", "assistant", True),
        ("tool", "tool", True),
        ("tool", "tool", True),
        ("user", "heartbeat", True),
        ("assistant", "assistant", True),
        ("tool", "tool", True),
    ]
    step = rows[3]
    assert [c["id"] for c in step.tool_calls] == ["call_a", "call_b"]
    assert (step.reasoning, step.reasoning_signature, step.content) == (
        "Two things to do.",
        "sig-1",
        "Saving both.",
    )
    assert [(r.tool_call_id, r.name) for r in rows[4:6]] == [
        ("call_a", "core_memory_append"),
        ("call_b", "word_count"),
    ]
    assert json.loads(rows[5].content)["message"] == "3"


async def test_an_imported_agent_runs_a_job_with_its_memory_and_history(
    app: AgentBatch, recorder: RecordingProvider
) -> None:
    report = await app.agent_files.import_file(
        app.org_id, agent_file(), model="scripted/letta-import"
    )
    assert "ada: model openai/gpt-4.1-mini -> scripted/letta-import (--model)" in report["mapped"]
    ada = report["agents"][0]["id"]
    script = [
        {
            "tool": "core_memory_append",
            "args": {"label": "team", "content": "ada was here"},
            "heartbeat": True,
        },
        {"tool": "send_message", "args": {"message": "Done."}, "heartbeat": False},
    ]
    job = await run_job(app, [ada], script=script, messages="What do I drink?", max_steps=4)
    assert job["status"] == "completed"

    first = recorder.requests[ada][0]
    assert "Name: Ada's user" in first.system and "Shared notes:" in first.system
    assert first.system.startswith("You are Ada, a helpful assistant with memory.")
    window = [(m.role, m.kind, m.content) for m in first.messages]
    assert [w[:2] for w in window] == [
        ("user", "input"),
        ("assistant", "assistant"),
        ("tool", "tool"),
        ("tool", "tool"),
        ("user", "heartbeat"),
        ("assistant", "assistant"),
        ("tool", "tool"),
        ("user", "input"),
    ]
    assert window[0][2] == "Remember that I drink green tea and count my words."
    assert window[-1][2] == "What do I drink?"
    assert "Hello from last week" not in [w[2] for w in window]  # out of context stays out
    assert [c.id for c in first.messages[1].tool_calls] == ["call_a", "call_b"]
    assert {t.name for t in first.tools} == {
        "send_message",
        "core_memory_append",
        "word_count",
        "shout",
    }
    # the shared block's edit is seen by the other imported agent
    bob = await app.agents.get_agent(app.org_id, report["agents"][1]["id"])
    team = next(b for b in bob["blocks"] if b["label"] == "team")
    assert team["value"] == "Shared notes:\nada was here"


async def test_what_cannot_be_mapped_is_reported_and_strict_refuses_it(app: AgentBatch) -> None:
    doc = agent_file()
    doc["tools"].append(
        {"id": "tool-4", "tool_type": "letta_builtin", "name": "web_search", "source_code": None}
    )
    doc["tools"].append(
        {"id": "tool-5", "tool_type": "letta_memory_core", "name": "memory_replace"}
    )
    ada = doc["agents"][0]
    ada["tool_ids"] += ["tool-4", "tool-5"]
    ada["tool_rules"].append({"tool_name": "web_search", "type": "exit_loop"})
    ada["tool_rules"].append({"tool_name": "memory_replace", "type": "requires_approval"})
    ada["tool_rules"].append({"tool_name": "memory_replace", "type": "continue_loop"})
    ada["secrets"] = {"WEATHER_KEY": ""}
    ada["passages"] = [{"text": "an archival memory", "tags": []}]
    ada["messages"].append(
        {"id": "message-20", "role": "approval", "content": None, "approve": True}
    )
    doc["groups"] = [{"id": "group-0", "agent_ids": ["agent-0"]}]

    with pytest.raises(InvalidInput, match="strict import: not everything can be imported"):
        await app.agent_files.import_file(app.org_id, copy.deepcopy(doc), strict=True)
    assert await _count(app, agents) == 0

    report = await app.agent_files.import_file(app.org_id, doc)
    lost = "\n".join(report["not_imported"])
    for expected in (
        "tool web_search",
        "tool rule exit_loop on 'web_search'",
        "requires_approval on 'memory_replace': agentbatch has no approval step",
        "secrets WEATHER_KEY",
        "1 approval message(s)",
        "1 groups",
        "1 archival memory passage(s)",
    ):
        assert expected in lost
    assert any("memory_replace -> core_memory_replace" in m for m in report["mapped"])
    agent = await app.agents.get_agent(app.org_id, report["agents"][0]["id"])
    assert "core_memory_replace" in agent["tools"] and "web_search" not in agent["tools"]
    assert {"type": "continue", "tool": "core_memory_replace"} in agent["tool_rules"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda d: d.pop("agents"), "agents: Field required"),
        (
            lambda d: d["agents"][1]["tool_rules"][3].pop("children"),
            "agents[1].tool_rules[3].children: Field required",
        ),
        (
            lambda d: d["agents"][0]["messages"][4]["tool_calls"][0]["function"].pop("name"),
            "agents[0].messages[4].tool_calls[0].function.name: Field required",
        ),
        (
            lambda d: d["agents"][0].update(block_ids=["block-0", "block-9"]),
            "agents[0].block_ids[1]: no block with id 'block-9'",
        ),
        (
            lambda d: d["agents"][0].update(in_context_message_ids=["message-0", "message-77"]),
            "agents[0].in_context_message_ids[1]: no message with id 'message-77'",
        ),
        (
            lambda d: d["blocks"][0].update(label="has spaces"),
            "blocks[0].label: String should match pattern",
        ),
        (
            lambda d: d["agents"][0]["llm_config"].update(
                handle="bedrock/claude-3-haiku", model_endpoint_type="bedrock"
            ),
            "provider 'bedrock' is not one agentbatch runs",
        ),
    ],
)
async def test_an_invalid_file_names_the_first_bad_field_and_writes_nothing(
    app: AgentBatch, change: Any, error: str
) -> None:
    doc = agent_file()
    change(doc)
    with pytest.raises(InvalidInput) as info:
        await app.agent_files.import_file(app.org_id, doc)
    assert error in str(info.value)
    for table in (agents, blocks, tools, messages):
        assert await _count(app, table) == 0


async def test_one_transaction_a_conflict_late_in_the_file_leaves_nothing(
    app: AgentBatch,
) -> None:
    other = agent_file()["tools"][3]["source_code"].replace("upper()", "lower()")
    await app.tools.create_tool(app.org_id, {"source": other})  # a different `shout`
    with pytest.raises(Conflict, match="a different tool named 'shout' already exists"):
        await app.agent_files.import_file(app.org_id, agent_file())
    assert await _count(app, agents) == 0
    assert await _count(app, blocks) == 0
    assert await _count(app, tools) == 1


async def test_our_agents_survive_export_and_import(app: AgentBatch) -> None:
    shared = await app.agents.create_block(app.org_id, {"label": "team", "value": "log:"})
    ids = await make_agents(
        app,
        2,
        blocks=[{"label": "human", "value": "", "limit": 300, "read_only": False}],
        block_ids=[shared["id"]],
        tools=["send_message", "core_memory_append", "rethink_memory"],
        tool_rules=[{"type": "terminal", "tool": "send_message"}],
        model_settings={"max_tokens": 300, "seed": 7},
        tags=["nightly"],
        message_buffer_autoclear=False,
    )
    script = [
        {
            "tool_calls": [
                {"tool": "core_memory_append", "args": {"label": "human", "content": "{input}"}},
                {"tool": "core_memory_append", "args": {"label": "team", "content": "{agent_id}"}},
            ],
            "reasoning": "two notes",
        },
        {"tool": "send_message", "args": {"message": "ok"}, "heartbeat": False},
    ]
    job = await run_job(app, ids, script=script, messages="tea", max_steps=3)
    assert job["status"] == "completed"

    exported = await app.agent_files.export_agents(app.org_id, ids)
    report = await app.agent_files.import_file(app.org_id, json.loads(json.dumps(exported)))
    assert report["not_imported"] == [] and report["shared_blocks"] == 1
    for old_id, new in zip(ids, report["agents"], strict=True):
        old = await app.agents.get_agent(app.org_id, old_id)
        copy_ = await app.agents.get_agent(app.org_id, new["id"])
        for key in ("name", "system", "model", "model_settings", "tools", "tool_rules", "tags"):
            assert copy_[key] == old[key], key
        assert [(b["label"], b["value"], b["limit"]) for b in copy_["blocks"]] == [
            (b["label"], b["value"], b["limit"]) for b in old["blocks"]
        ]
        before = await history(app, job["id"], old_id)
        async with app.db.read() as conn:
            after = (
                await conn.execute(
                    select(messages).where(messages.c.agent_id == new["id"]).order_by(messages.c.id)
                )
            ).all()
        keys = ("role", "kind", "content", "tool_calls", "tool_call_id", "name", "reasoning")
        assert [tuple(getattr(r, k) for k in keys) for r in after] == [
            tuple(m.get(k) for k in keys) for m in before
        ]
