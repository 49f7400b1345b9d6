"""Creating a big job is cheap: one POST validates and stores 10,000 requests in bulk; a
worker (not the request) submits the first provider batch.

Measure it (SQLite, prints the POST's wall time)::

    .venv/bin/python -m tests.e2e.test_http_bulk [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agentbatch.client import Client
from tests.e2e.http_support import mint_keys, seed_agents, serve


def time_job_post(url: str, n: int) -> tuple[float, dict[str, Any]]:
    """Seconds the POST of an ``n``-request job takes (server without a worker)."""
    (key,) = mint_keys(url, "bulk")
    ids = seed_agents(url, "bulk", n)
    body = {"requests": [{"agent_id": a, "messages": f"item {i}"} for i, a in enumerate(ids)]}
    with serve(url, with_worker=False) as server, Client(server.url, key) as client:
        client.health()  # connection and first-request costs out of the measurement
        started = time.perf_counter()
        job = client.create_job(body)
        elapsed = time.perf_counter() - started
    return elapsed, job


def test_a_ten_thousand_request_job_is_one_post(tmp_path: Path) -> None:
    elapsed, job = time_job_post(f"sqlite+aiosqlite:///{tmp_path / 'bulk.db'}", 10_000)
    print(f"POST /v1/jobs with 10,000 requests: {elapsed:.2f}s")
    assert job["request_count"] == 10_000
    assert job["status"] == "created"  # nothing was submitted inside the request
    assert job["runs"]["queued"] == 10_000
    assert job["provider_batches"] == {}


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ["AGENTBATCH_HOME"] = tmp
        seconds, _ = time_job_post(f"sqlite+aiosqlite:///{tmp}/bulk.db", count)
    print(f"POST /v1/jobs with {count:,} requests: {seconds:.2f}s (SQLite)")
