"""`agentbatch batches show` for a job that ran through the Anthropic emulator: the CLI (a
separate process, configured only by AGENTBATCH_DATABASE_URL / AGENTBATCH_HOME) shows the
job's tokens, including prompt-cache reads and writes, and its cost with the batch discount."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from agentbatch.app import AgentBatch
from agentbatch.pricing import cache_phrase
from agentbatch.providers.anthropic import AnthropicBatchProvider
from agentbatch.providers.registry import ProviderRegistry
from agentbatch.testing.anthropic import AnthropicEmulator
from tests.conftest import fast_settings
from tests.e2e.http_support import serve

SCRIPT: list[dict[str, Any]] = [
    {
        "tool": "core_memory_append",
        "args": {"label": "human", "content": "likes {input}"},
        "heartbeat": True,
    },
    {"tool": "send_message", "args": {"message": "Noted."}, "heartbeat": False},
]


async def finished_job(database_url: str) -> dict[str, Any]:
    """Three agents, two steps each, through the official SDK against the emulator."""
    with AnthropicEmulator(SCRIPT).serve() as srv:
        provider = AnthropicBatchProvider(api_key="test-key", base_url=srv.url)
        app = await AgentBatch.open(
            database_url,
            settings=fast_settings(),
            registry=ProviderRegistry({"anthropic": provider}),
            upgrade=True,
        )
        try:
            ids = []
            for i in range(3):
                agent = await app.agents.create_agent(
                    app.org_id,
                    {
                        "name": f"costed-{i}",
                        "model": "anthropic/claude-sonnet-4-5",
                        "system": "You keep notes about the user. " * 20,
                        "blocks": [{"label": "human", "value": ""}],
                        "tools": ["send_message", "core_memory_append"],
                    },
                )
                ids.append(agent["id"])
            job = await app.jobs.create_job(
                app.org_id,
                {"requests": [{"agent_id": a, "messages": f"tea-{i}"} for i, a in enumerate(ids)]},
            )
            return await app.run_job(job["id"], timeout_s=30)
        finally:
            await app.close()


def cli(database_url: str, home: Path, *args: str) -> str:
    env = {
        **os.environ,
        "AGENTBATCH_DATABASE_URL": database_url,
        "AGENTBATCH_HOME": str(home),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "agentbatch.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_batches_show_reports_tokens_and_cost(database_url: str, tmp_path: Path) -> None:
    job = await finished_job(database_url)
    assert job["status"] == "completed" and job["runs"]["completed"] == 3
    usage, cost = job["usage"], job["cost"]
    assert usage["model_calls"] == 6
    assert usage["cache_write_tokens"] > 0 and usage["cache_read_tokens"] > 0
    assert cost["usd"] > 0 and cost["batch_savings_usd"] > 0 and cost["unpriced_models"] == []

    home = tmp_path / "cli-home"
    home.mkdir()
    text = " ".join(cli(database_url, home, "batches", "show", job["id"]).split())
    assert f"job {job['id']}: completed" in text
    assert "runs: completed 3" in text
    assert (
        f"model calls 6, tokens in {usage['input_tokens']} out {usage['output_tokens']} "
        f"cache read {usage['cache_read_tokens']} cache write {usage['cache_write_tokens']}"
    ) in text
    assert (
        f"cost ${cost['usd']:.4f} (live price ${cost['live_usd']:.4f}; "
        f"batch saves ${cost['batch_savings_usd']:.4f}, "
        f"{cache_phrase(cost['cache_savings_usd'])})"
    ) in text
    assert "unpriced" not in text
    assert "provider batches: ingested 2" in text

    shown = json.loads(cli(database_url, home, "batches", "show", job["id"], "--json"))
    assert shown["status"] == "completed" and shown["failed_runs"] == []
    assert shown["usage"] == usage and shown["cost"] == cost


async def test_dashboard_job_page_shows_the_jobs_cost(database_url: str) -> None:
    job = await finished_job(database_url)
    cost = job["cost"]
    assert cost["usd"] > 0
    with serve(database_url, auth=False, with_worker=False) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as browser:
            page = (await browser.get(f"/ui/jobs/{job['id']}")).text
            listed = (await browser.get("/")).text
    card = re.search(r'<p id="job-cost">(.*?)</p>', page, re.S)
    assert card is not None
    assert f'data-usd="{cost["usd"]}"' in card.group(1)
    assert f"${cost['usd']:,.4f}" in card.group(1)
    assert "$-" not in page and "$-" not in listed
    assert cache_phrase(cost["cache_savings_usd"]) in page
    assert f'data-usd="{cost["usd"]}"' in listed
