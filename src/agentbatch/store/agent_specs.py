"""Agents and custom tools as the runtime reads them: parsed specs with a version to
validate cached copies by, and each organisation's custom tools."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import String, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.agents import AgentSpec
from agentbatch.store.agents_repo import agent_spec
from agentbatch.store.in_list import in_ids
from agentbatch.store.rows import CustomTool
from agentbatch.store.tables import agents, tools

_CHUNK = 2000
# compared for equality only: read as stored, without datetime parsing
_VERSION = type_coerce(agents.c.updated_at, String).label("v")


async def versions(conn: AsyncConnection, agent_ids: Sequence[str]) -> dict[str, str]:
    """agent id -> an opaque version that changes with every edit of the agent."""
    out: dict[str, str] = {}
    for start in range(0, len(agent_ids), _CHUNK):
        rows = await conn.execute(
            select(agents.c.id, _VERSION).where(
                in_ids(agents.c.id, list(agent_ids[start : start + _CHUNK]), conn.dialect.name)
            )
        )
        out.update((r.id, r.v) for r in rows)
    return out


async def specs(
    conn: AsyncConnection, agent_ids: Sequence[str]
) -> list[tuple[str, str, AgentSpec]]:
    """(version, org id, parsed spec) of each agent that exists."""
    out: list[tuple[str, str, AgentSpec]] = []
    for start in range(0, len(agent_ids), _CHUNK):
        rows = await conn.execute(
            select(agents, _VERSION).where(agents.c.id.in_(list(agent_ids[start : start + _CHUNK])))
        )
        out.extend((row.v, row.org_id, agent_spec(row)) for row in rows)
    return out


async def custom_tools(
    conn: AsyncConnection, org_ids: Iterable[str]
) -> dict[str, dict[str, CustomTool]]:
    """org id -> {tool name -> tool}."""
    out: dict[str, dict[str, CustomTool]] = {org: {} for org in org_ids}
    if not out:
        return out
    rows = await conn.execute(
        select(
            tools.c.id,
            tools.c.org_id,
            tools.c.name,
            tools.c.description,
            tools.c.parameters,
            tools.c.source,
            tools.c.settings,
        ).where(tools.c.org_id.in_(list(out)))
    )
    for row in rows:
        out[row.org_id][row.name] = CustomTool(*row)
    return out
