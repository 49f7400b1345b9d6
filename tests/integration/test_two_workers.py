"""Two `agentbatch worker` processes share one PostgreSQL database: every item is applied
exactly once (asserted on message counts), and both workers take part."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from agentbatch.app import AgentBatch
from agentbatch.store.tables import batch_items, messages
from tests.conftest import fast_settings
from tests.helpers import kinds

N_AGENTS = 500
SCRIPT = [
    {
        "tool": "core_memory_append",
        "args": {"label": "human", "content": "seen {step}"},
        "heartbeat": True,
    },
    {"tool": "send_message", "args": {"message": "done"}, "heartbeat": False},
]


@pytest.mark.postgres
async def test_two_worker_processes_apply_every_item_once(
    postgres_url: str, tmp_path: Path
) -> None:
    from tests.conftest import _truncate

    await _truncate(postgres_url)
    app = await AgentBatch.open(postgres_url, settings=fast_settings(), upgrade=True)
    try:
        ids = []
        for i in range(N_AGENTS):
            agent = await app.agents.create_agent(
                app.org_id,
                {
                    "name": f"w{i}",
                    "model": "scripted/test",
                    "tools": ["send_message", "core_memory_append"],
                    "blocks": [{"label": "human", "value": ""}],
                },
            )
            ids.append(agent["id"])
        job = await app.jobs.create_job(
            app.org_id,
            {
                "requests": [{"agent_id": a, "messages": "hello"} for a in ids],
                "max_steps": 3,
                "options": {"script": SCRIPT},
            },
        )
        env = {
            **os.environ,
            "AGENTBATCH_DATABASE_URL": postgres_url,
            "AGENTBATCH_HOME": str(tmp_path),
            "AGENTBATCH_SEND_DELAY": "0",
            "AGENTBATCH_POLL_INTERVAL": "0.05",
            "AGENTBATCH_IDLE_SLEEP": "0.05",
            "AGENTBATCH_MAX_BATCH_REQUESTS": "25",
            "AGENTBATCH_CHUNK_SIZE": "25",
        }
        logs = [tmp_path / f"worker{i}.log" for i in range(2)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "agentbatch.cli.main", "-v", "worker"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log.open("w"),
            )
            for log in logs
        ]
        try:
            deadline = time.monotonic() + 240
            while True:
                status = (await app.jobs.get_job(app.org_id, job["id"]))["status"]
                if status in ("completed", "failed", "cancelled"):
                    break
                assert time.monotonic() < deadline, "job did not finish"
                assert all(p.poll() is None for p in procs), [
                    log.read_text()[-2000:] for log in logs
                ]
                await asyncio.sleep(0.5)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(timeout=30)
        assert status == "completed"
        final = await app.jobs.get_job(app.org_id, job["id"])
        assert final["runs"]["completed"] == N_AGENTS
        async with app.db.read() as conn:
            total = (await conn.execute(select(func.count()).select_from(messages))).scalar_one()
            applied = (
                await conn.execute(
                    select(func.count())
                    .select_from(batch_items)
                    .where(batch_items.c.applied.is_(True))
                )
            ).scalar_one()
        assert total == N_AGENTS * 6
        assert applied == N_AGENTS * 2
        for agent_id in ids[:: N_AGENTS // 25]:
            msgs = await app.jobs.job_messages(None, job["id"], agent_id=agent_id)
            assert kinds(msgs) == ["input", "assistant", "tool", "heartbeat", "assistant", "tool"]
            agent = await app.agents.get_agent(app.org_id, agent_id)
            assert agent["blocks"][0]["value"] == "seen 0"
        submitted = [log.read_text().count("submitted provider batch") for log in logs]
        assert all(n > 0 for n in submitted), submitted  # both workers did real work
    finally:
        await app.close()
