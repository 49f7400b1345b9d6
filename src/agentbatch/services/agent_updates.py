"""Change an agent after creation: its settings, tools, rules, tags, and which memory
blocks are attached.

Every change bumps the agent's ``updated_at`` in the same transaction; workers verify cached
agents by it, so the change reaches the agent's next model request and never a step already
sent. A running job keeps the model it started with (its runs are grouped by model); a new
model applies from the agent's next job."""

from __future__ import annotations

from typing import Any

from agentbatch.domain.agents import split_handle
from agentbatch.domain.model_settings import settings_problem
from agentbatch.domain.rules import parse_rules
from agentbatch.errors import Conflict, InvalidInput, NotFound
from agentbatch.ids import Clock, utcnow
from agentbatch.schemas import AgentUpdate
from agentbatch.services.agents import AgentService, check_tool_names, parse_model
from agentbatch.store import agent_edits as edits
from agentbatch.store import agents_repo as repo
from agentbatch.store.db import Database


class AgentEditService:
    def __init__(self, db: Database, agents: AgentService, clock: Clock = utcnow) -> None:
        self.db = db
        self.agents = agents
        self.clock = clock

    async def _row(self, conn: Any, org_id: str, agent_id: str) -> Any:
        row = await repo.get_agent_row(conn, org_id, agent_id)
        if row is None:
            raise NotFound(f"agent {agent_id!r} not found")
        return row

    async def _check_tools(self, conn: Any, org_id: str, names: list[str]) -> None:
        await check_tool_names(conn, org_id, names)

    async def _write(self, conn: Any, org_id: str, row: Any, values: dict[str, Any]) -> None:
        if not await edits.update_agent_row(
            conn, org_id, row.id, row.updated_at, values, self.clock()
        ):
            raise Conflict(f"agent {row.id!r} was changed meanwhile; read it again and retry")

    async def update_agent(
        self, org_id: str, agent_id: str, data: AgentUpdate | dict[str, Any]
    ) -> dict[str, Any]:
        """Change the given fields; tools and rules are checked together (a rule may only
        name the agent's tools)."""
        spec: AgentUpdate = parse_model(AgentUpdate, data)
        values = spec.model_dump(exclude_none=True)
        if "model" in values:
            self.agents.policy.check_model(values["model"])
        if "tools" in values:
            values["tool_names"] = values.pop("tools")
        if "tags" in values:
            values["tags"] = list(dict.fromkeys(values["tags"]))
        async with self.db.write() as conn:
            row = await self._row(conn, org_id, agent_id)
            if not values:
                raise InvalidInput("nothing to change: give at least one field")
            if "model" in values or "model_settings" in values:
                provider, _ = split_handle(values.get("model", row.model))
                settings = values.get("model_settings", row.model_settings)
                problem = settings_problem(settings, provider)
                if problem is not None:
                    raise InvalidInput(problem)
            tool_names = list(values.get("tool_names", row.tool_names or []))
            if "tool_names" in values:
                await self._check_tools(conn, org_id, tool_names)
            if "tool_names" in values or "tool_rules" in values:
                rules = values.get("tool_rules", row.tool_rules or [])
                try:
                    parsed = parse_rules(rules, tool_names)
                except ValueError as exc:
                    raise InvalidInput(str(exc)) from None
                values["tool_rules"] = [r.to_dict() for r in parsed]
            await self._write(conn, org_id, row, values)
        return await self.agents.get_agent(org_id, agent_id)

    async def attach_tool(self, org_id: str, agent_id: str, name: str) -> dict[str, Any]:
        async with self.db.write() as conn:
            row = await self._row(conn, org_id, agent_id)
            names = list(row.tool_names or [])
            if name in names:
                raise Conflict(f"agent {agent_id!r} already has the tool {name!r}")
            await self._check_tools(conn, org_id, [name])
            await self._write(conn, org_id, row, {"tool_names": [*names, name]})
        return await self.agents.get_agent(org_id, agent_id)

    async def detach_tool(self, org_id: str, agent_id: str, name: str) -> dict[str, Any]:
        async with self.db.write() as conn:
            row = await self._row(conn, org_id, agent_id)
            names = list(row.tool_names or [])
            if name not in names:
                raise NotFound(f"agent {agent_id!r} has no tool {name!r}")
            remaining = [n for n in names if n != name]
            try:
                parse_rules(row.tool_rules or [], remaining)
            except ValueError:
                raise Conflict(
                    f"the agent's tool rules name {name!r}: change them first "
                    "(agents update --rules-file)"
                ) from None
            await self._write(conn, org_id, row, {"tool_names": remaining})
        return await self.agents.get_agent(org_id, agent_id)

    async def attach_block(self, org_id: str, agent_id: str, block_id: str) -> dict[str, Any]:
        async with self.db.write() as conn:
            row = await self._row(conn, org_id, agent_id)
            found = await repo.get_block_rows(conn, org_id, [block_id])
            if not found:
                raise NotFound(f"block {block_id!r} not found")
            attached = [b for _, b in await repo.blocks_for_agents(conn, [agent_id])]
            if any(b.id == block_id for b in attached):
                raise Conflict(f"block {block_id!r} is already attached to agent {agent_id!r}")
            if any(b.label == found[0].label for b in attached):
                raise Conflict(
                    f"agent {agent_id!r} already has a block labelled {found[0].label!r}; "
                    "an agent's block labels are unique"
                )
            await edits.attach_block_row(conn, agent_id, block_id)
            await self._write(conn, org_id, row, {})
        return await self.agents.get_agent(org_id, agent_id)

    async def detach_block(self, org_id: str, agent_id: str, block_id: str) -> dict[str, Any]:
        async with self.db.write() as conn:
            row = await self._row(conn, org_id, agent_id)
            if not await edits.detach_block_row(conn, agent_id, block_id):
                raise NotFound(f"block {block_id!r} is not attached to agent {agent_id!r}")
            await self._write(conn, org_id, row, {})
        return await self.agents.get_agent(org_id, agent_id)
