"""Agent File import/export benchmark (not a test): a generated file of N agents, each with
the history of tests.letta_files repeated K times (7 message rows per repeat, parallel
tool calls included), imported then exported through the service, with wall times.

    python -m tests.bench_agent_files sqlite+aiosqlite:////tmp/af.db 1000 10
"""

from __future__ import annotations

import asyncio
import copy
import json
import resource
import sys
import time
from typing import Any

from agentbatch.app import AgentBatch
from tests.letta_files import agent_file


def generate(n_agents: int, repeats: int) -> dict[str, Any]:
    doc = agent_file()
    proto = doc["agents"][0]
    history = proto["messages"]
    agents = []
    next_id = 0
    for i in range(n_agents):
        agent = copy.deepcopy(proto)
        agent["id"], agent["name"] = f"agent-{i}", f"ada {i}"
        messages = [dict(history[0], id=f"message-{next_id}")]
        next_id += 1
        for _ in range(repeats):
            for msg in history[3:9]:
                messages.append(dict(msg, id=f"message-{next_id}"))
                next_id += 1
        agent["messages"] = messages
        agent["in_context_message_ids"] = [m["id"] for m in messages[:1] + messages[-60:]]
        agents.append(agent)
    doc["agents"] = agents
    return doc


async def main(url: str, n_agents: int, repeats: int) -> None:
    raw = json.dumps(generate(n_agents, repeats))
    ab = await AgentBatch.open(url, upgrade=True)
    async with ab:
        t0 = time.perf_counter()
        report = await ab.agent_files.import_file(ab.org_id, json.loads(raw))
        t1 = time.perf_counter()
        await ab.agent_files.export_agents(ab.org_id, [a["id"] for a in report["agents"]])
        t2 = time.perf_counter()
    rows = sum(a["messages"] for a in report["agents"])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{n_agents} agents, {rows} message rows, {len(raw) / 1e6:.1f} MB: import (parse, "
        f"map, write) {t1 - t0:.2f} s = {rows / (t1 - t0):.0f} rows/s, export {t2 - t1:.2f} s, "
        f"peak RSS {rss:.0f} MB"
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
