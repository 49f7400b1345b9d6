"""A bounded cache of parsed agent specs, validated by ``updated_at`` on every load.

Agents rarely change while a job runs, yet every step needs each agent's tools, rules and
block membership: re-reading and re-parsing them dominated the hot path. A load now reads
``(id, updated_at)`` and fetches full rows (and block membership, which only changes with
the agent) only for misses and changed agents."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.agents import AgentSpec
from agentbatch.store import agent_specs, blocks, jobs
from agentbatch.store.rows import CustomTool, JobSettings
from agentbatch.tools.builtins import BUILTIN_SPECS

Loaded = tuple[dict[str, tuple[AgentSpec, str]], dict[str, list[str]]]


class AgentCache:
    """``recheck_s``: an entry verified this recently is trusted without a query. Agents
    can be edited while they run (``agents update``, attach / detach): every edit bumps
    ``updated_at``, and with the default 0 every load verifies it (one indexed query of ids
    and timestamps per 2,000 agents), so an edit reaches the agent's very next request."""

    def __init__(self, capacity: int = 20_000, recheck_s: float = 0.0) -> None:
        self.capacity = capacity
        self.recheck_s = recheck_s
        self._entries: OrderedDict[str, tuple[Any, AgentSpec, str, list[str]]] = OrderedDict()
        self._checked: dict[str, float] = {}

    async def load(self, conn: AsyncConnection, agent_ids: Iterable[str]) -> Loaded:
        """(agent id -> (spec, org id), agent id -> its block ids in order)."""
        now = time.monotonic()
        out: dict[str, tuple[AgentSpec, str]] = {}
        block_ids: dict[str, list[str]] = {}
        ids = []
        for agent_id in sorted(set(agent_ids)):
            hit = self._entries.get(agent_id)
            if hit is not None and now - self._checked.get(agent_id, -1e9) < self.recheck_s:
                out[agent_id] = (hit[1], hit[2])
                block_ids[agent_id] = hit[3]
            else:
                ids.append(agent_id)
        stale: list[str] = []
        if ids:
            current = await agent_specs.versions(conn, ids)
            for agent_id, version in current.items():
                hit = self._entries.get(agent_id)
                if hit is not None and hit[0] == version:
                    out[agent_id] = (hit[1], hit[2])
                    block_ids[agent_id] = hit[3]
                    self._checked[agent_id] = now
                    self._entries.move_to_end(agent_id)
                else:
                    stale.append(agent_id)
        if stale:
            members = await blocks.agent_block_ids(conn, stale)
            for version, org_id, spec in await agent_specs.specs(conn, stale):
                own = members.get(spec.id, [])
                out[spec.id] = (spec, org_id)
                block_ids[spec.id] = own
                self._entries[spec.id] = (version, spec, org_id, own)
                self._checked[spec.id] = now
        while len(self._entries) > self.capacity:
            evicted, _ = self._entries.popitem(last=False)
            self._checked.pop(evicted, None)
        return out, block_ids


class JobCache:
    """A job's max_steps, max_attempts and options never change after creation: read once."""

    def __init__(self, capacity: int = 1_000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, JobSettings] = OrderedDict()

    async def load(self, conn: AsyncConnection, job_ids: Iterable[str]) -> dict[str, JobSettings]:
        wanted = set(job_ids)
        missing = [j for j in wanted if j not in self._entries]
        if missing:
            self._entries.update(await jobs.settings(conn, missing))
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return {j: self._entries[j] for j in wanted if j in self._entries}


class ToolCache:
    """An organisation's custom tools, re-read when older than ``ttl_s``, and at once when
    an agent names a custom tool the cached entry lacks (a tool created moments ago). Tools
    can be edited (``tools update``): with the default 0 they are re-read once per pass, so
    an edit reaches the next request."""

    def __init__(self, ttl_s: float = 0.0) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, dict[str, CustomTool]]] = {}

    async def load(
        self, conn: AsyncConnection, agents: Iterable[tuple[AgentSpec, str]]
    ) -> dict[str, dict[str, CustomTool]]:
        """org id -> {tool name -> row} for the orgs of these (agent spec, org id) pairs."""
        now = time.monotonic()
        needed: dict[str, set[str]] = {}
        for spec, org in agents:
            needed.setdefault(org, set()).update(
                n for n in spec.tool_names if n not in BUILTIN_SPECS
            )

        def stale(org: str) -> bool:
            entry = self._entries.get(org)
            return (
                entry is None or now - entry[0] >= self.ttl_s or not needed[org] <= entry[1].keys()
            )

        refresh = [org for org in needed if stale(org)]
        if refresh:
            for org, tools in (await agent_specs.custom_tools(conn, refresh)).items():
                self._entries[org] = (now, tools)
        return {org: self._entries[org][1] for org in needed if org in self._entries}
