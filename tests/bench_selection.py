"""Selection benchmark (not a test): 2N agents, half tagged ``sleeptime``; the estimate and
the creation of one job for every tagged agent with a per-agent template, with wall times
and SQL statements.

    python -m tests.bench_selection 100000 [DATABASE_URL]   # default: a temporary SQLite file
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from agentbatch.app import AgentBatch
from agentbatch.config import RuntimeSettings
from agentbatch.ids import new_id, utcnow
from agentbatch.store.tables import agents

JOB = {
    "agents": {"tags": ["sleeptime"]},
    "messages": "Hi {{agent.name}} of {{agent.metadata.team}}",
}


async def main(n: int, url: str | None) -> None:
    home = tempfile.mkdtemp()
    os.environ["AGENTBATCH_HOME"] = home
    url = url or f"sqlite+aiosqlite:///{Path(home) / 'bench.db'}"
    ab = await AgentBatch.open(url, upgrade=True, settings=RuntimeSettings())
    now = utcnow()
    async with ab.db.write() as conn:
        for start in range(0, 2 * n, 5000):
            await conn.execute(
                insert(agents),
                [
                    {
                        "id": new_id("agent"),
                        "org_id": ab.org_id,
                        "name": f"a{i}",
                        "system": "You consolidate memory.",
                        "model": "scripted/x",
                        "model_settings": {},
                        "tool_names": ["send_message"],
                        "tool_rules": [],
                        "message_buffer_autoclear": False,
                        "metadata": {"team": f"t{i % 10}"},
                        "tags": ["sleeptime"] if i % 2 == 0 else ["day"],
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, min(2 * n, start + 5000))
                ],
            )
    statements = ab.db.statements
    t0 = time.perf_counter()
    estimate = await ab.estimates.estimate_job(ab.org_id, JOB)
    estimate_s, estimate_sql = time.perf_counter() - t0, ab.db.statements - statements
    statements = ab.db.statements
    t0 = time.perf_counter()
    job = await ab.jobs.create_job(ab.org_id, JOB)
    create_s, create_sql = time.perf_counter() - t0, ab.db.statements - statements
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{ab.db.dialect}: {2 * n} agents, {job['request_count']} selected by tag; estimate "
        f"{estimate_s:.2f} s ({estimate_sql} statements, {estimate['input_tokens']} tokens); "
        f"job creation {create_s:.2f} s ({create_sql} statements); peak RSS {rss:.0f} MB"
    )
    await ab.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
