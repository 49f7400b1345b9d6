"""A bounded cache of parsed agent specs, validated by ``updated_at`` on every load.

Agents rarely change while a job runs, yet every step needs each agent's tools and rules:
re-reading and re-parsing their JSON columns dominated the hot path. A load now reads
``(id, org_id, updated_at)`` and fetches full rows only for misses and changed agents."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.agents import AgentSpec
from agentbatch.store.agents_repo import agent_spec
from agentbatch.store.tables import agents


class AgentCache:
    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[Any, AgentSpec, str]] = OrderedDict()

    async def load(
        self, conn: AsyncConnection, agent_ids: Iterable[str]
    ) -> dict[str, tuple[AgentSpec, str]]:
        ids = sorted(set(agent_ids))
        out: dict[str, tuple[AgentSpec, str]] = {}
        stale: list[str] = []
        for start in range(0, len(ids), 2000):
            chunk = ids[start : start + 2000]
            rows = await conn.execute(
                select(agents.c.id, agents.c.updated_at).where(agents.c.id.in_(chunk))
            )
            for row in rows:
                hit = self._entries.get(row.id)
                if hit is not None and hit[0] == row.updated_at:
                    out[row.id] = (hit[1], hit[2])
                    self._entries.move_to_end(row.id)
                else:
                    stale.append(row.id)
        for start in range(0, len(stale), 2000):
            rows = await conn.execute(
                select(agents).where(agents.c.id.in_(stale[start : start + 2000]))
            )
            for row in rows:
                spec = agent_spec(row)
                out[row.id] = (spec, row.org_id)
                self._entries[row.id] = (row.updated_at, spec, row.org_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return out
