"""Code written against Letta's batch API keeps working: the real `letta-client` (1.7.0,
the last release with `client.batches`) drives a live agentbatch server the way a Letta
user's script did: create agents and a shared block, create a batch, poll it, cancel
another, list its messages, read memory, receive the callback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agentbatch.providers.registry import ProviderRegistry
from agentbatch.providers.scripted import ScriptedProvider
from tests.e2e.http_support import mint_keys, serve

letta_client = pytest.importorskip("letta_client")

SCRIPT = [
    {
        "tool_calls": [
            {"tool": "core_memory_append", "args": {"label": "human", "content": "likes {input}"}},
            {
                "tool": "core_memory_append",
                "args": {"label": "team", "content": "{agent_id}"},
                "heartbeat": True,
            },
        ],
        "reasoning": "two notes at once",
    },
    {"tool": "send_message", "args": {"message": "Noted!"}, "heartbeat": False},
]


class Callbacks:
    """Records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.bodies.append(json.loads(body))
                owner.arrived.set()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/letta-done"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def callbacks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callbacks]:
    # the SSRF guard's opt-out for local development (callbacks to 127.0.0.1)
    monkeypatch.setenv("AGENTBATCH_CALLBACK_ALLOW_PRIVATE", "1")
    receiver = Callbacks()
    yield receiver
    receiver.close()


def _wait_status(client: Any, batch_id: str, statuses: set[str]) -> Any:
    for _ in range(600):
        batch = client.batches.retrieve(batch_id)
        if batch.status in statuses:
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} stayed {batch.status}")


def test_a_letta_batch_script_runs_against_agentbatch(tmp_path: Path, callbacks: Callbacks) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'letta.db'}"
    (key,) = mint_keys(url, "letta-user")
    registry = ProviderRegistry({"scripted": ScriptedProvider(tmp_path / "scripted")})
    with serve(url, registry=registry) as server:
        client = letta_client.Letta(api_key=key, base_url=f"{server.url}/letta")

        team = client.blocks.create(label="team", value="Team log:", limit=2000)
        agents = [
            client.agents.create(
                name=f"ada {i}",
                model="scripted/letta",
                memory_blocks=[{"label": "human", "value": "", "limit": 500}],
                block_ids=[team.id],
                tools=["send_message"],
                tags=["letta-e2e"],
                metadata={"owner": "e2e", "agentbatch": {"model_settings": {"script": SCRIPT}}},
            )
            for i in range(2)
        ]
        slow = client.agents.create(
            name="slow",
            model="scripted/letta",
            include_base_tools=False,
            tools=["send_message"],
            metadata={"agentbatch": {"model_settings": {"polls": 1_000_000}}},
        )
        assert {t.name for t in agents[0].tools} == {
            "send_message",
            "core_memory_append",
            "core_memory_replace",
            "conversation_search",
        }
        assert [b.label for b in agents[0].memory.blocks] == ["human", "team"]
        assert agents[0].llm_config.handle == "scripted/letta"
        assert agents[0].metadata == {
            "owner": "e2e",
            "agentbatch": {"model_settings": {"script": SCRIPT}},
        }

        batch = client.batches.create(
            requests=[
                {
                    "agent_id": a.id,
                    "messages": [
                        {"role": "user", "content": [{"type": "text", "text": "green tea"}]}
                    ],
                }
                for a in agents
            ],
            callback_url=callbacks.url,
        )
        other = client.batches.create(requests=[{"agent_id": slow.id, "input": "hello?"}])
        assert batch.job_type == "batch" and batch.status in ("created", "running")

        done = _wait_status(client, batch.id, {"completed", "failed", "cancelled"})
        assert done.status == "completed" and done.completed_at is not None

        client.batches.cancel(other.id)
        assert client.batches.retrieve(other.id).status == "cancelled"
        listed = [b.id for b in client.batches.list()]
        assert listed == [other.id, batch.id]  # newest first, every status

        # every message of the batch, read back page by page (auto-pagination), oldest first
        messages = list(client.batches.messages.list(batch.id, limit=3, order="asc"))
        assert len(messages) == 14  # per agent: input, 2 steps of assistant + tools, heartbeat
        mine = [m for m in messages if m.agent_id == agents[0].id]
        assert [m.role for m in mine] == [
            "user",
            "assistant",
            "tool",
            "tool",
            "user",
            "assistant",
            "tool",
        ]
        assert mine[0].content[0].text == "green tea"
        step = mine[1]
        assert [c.function.name for c in step.tool_calls] == ["core_memory_append"] * 2
        assert step.content[0].type == "reasoning"
        assert [m.tool_call_id for m in mine[2:4]] == [c.id for c in step.tool_calls]
        assert all(r.status == "success" for m in mine[2:4] for r in m.tool_returns)
        assert step.batch_item_id and mine[5].batch_item_id != step.batch_item_id
        newest = client.batches.messages.list(batch.id, agent_id=agents[1].id, limit=1)
        assert [m.role for m in newest.messages] == ["tool"]  # desc by default

        # memory, as a Letta script reads it
        human = client.agents.blocks.retrieve("human", agent_id=agents[0].id)
        assert human.value == "likes green tea"
        log = client.blocks.retrieve(team.id).value
        assert agents[0].id in log and agents[1].id in log
        state = client.agents.retrieve(agents[0].id)
        assert len(state.message_ids) == 7  # the in-context window after the run

        assert callbacks.arrived.wait(30), "no callback arrived"
        body = callbacks.bodies[0]
        assert (body["job_id"], body["status"]) == (batch.id, "completed")
        assert body["completed_at"] == done.completed_at.isoformat()

        with pytest.raises(letta_client.UnprocessableEntityError, match="client-side tools"):
            client.batches.create(
                requests=[{"agent_id": agents[0].id, "input": "x", "client_tools": [{"name": "t"}]}]
            )
        with pytest.raises(letta_client.NotFoundError):
            client.batches.retrieve("job-missing")
