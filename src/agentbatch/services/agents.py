"""Agents and memory blocks: validate, then write in one transaction."""

from __future__ import annotations

import difflib
from typing import Any

from agentbatch.domain.agents import split_handle
from agentbatch.domain.model_settings import settings_problem
from agentbatch.domain.rules import parse_rules
from agentbatch.errors import Conflict, InvalidInput, NotFound
from agentbatch.ids import Clock, iso, new_id, utcnow
from agentbatch.schemas import AgentCreate
from agentbatch.services.blocks import BlockOperations, block_out
from agentbatch.services.context_budget import agent_budget
from agentbatch.services.parsing import parse_model
from agentbatch.services.policy import TenantPolicy
from agentbatch.store import agents_repo as repo
from agentbatch.store.db import Database
from agentbatch.tools.builtins import BUILTIN_SPECS


def agent_out(row: Any, blocks: list[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "system": row.system,
        "model": row.model,
        "model_settings": row.model_settings,
        "tools": list(row.tool_names),
        "tool_rules": list(row.tool_rules),
        "message_buffer_autoclear": bool(row.message_buffer_autoclear),
        "metadata": row.metadata,
        "tags": list(row.tags or []),
        "archive": getattr(row, "archive", None),
        "blocks": [block_out(b) for b in blocks],
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


async def check_tool_names(conn: Any, org_id: str, names: list[str]) -> None:
    """Every name is a built-in or one of the organisation's tools; a typo gets a
    "did you mean"."""
    custom = {r.name for r in await repo.tool_rows(conn, org_id, names)}
    unknown = [t for t in names if t not in BUILTIN_SPECS and t not in custom]
    if not unknown:
        return
    known = [*BUILTIN_SPECS, *(r.name for r in await repo.tool_rows(conn, org_id))]
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise InvalidInput(f"unknown tool(s): {', '.join(parts)}; see `agentbatch tools list`")


class AgentService(BlockOperations):
    def __init__(
        self, db: Database, clock: Clock = utcnow, policy: TenantPolicy | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy or TenantPolicy()

    # -- agents ---------------------------------------------------------------------------

    async def create_agent(self, org_id: str, data: AgentCreate | dict[str, Any]) -> dict[str, Any]:
        spec: AgentCreate = parse_model(AgentCreate, data)
        self.policy.check_model(spec.model)
        provider, _ = split_handle(spec.model)
        problem = settings_problem(spec.model_settings, provider)
        if problem is not None:
            raise InvalidInput(problem)
        now = self.clock()
        async with self.db.write() as conn:
            await check_tool_names(conn, org_id, spec.tools)
            try:
                rules = parse_rules(spec.tool_rules, spec.tools)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
            shared = (
                await repo.get_block_rows(conn, org_id, spec.block_ids) if spec.block_ids else []
            )
            missing = sorted(set(spec.block_ids) - {b.id for b in shared})
            if missing:
                raise InvalidInput(f"unknown block id(s): {', '.join(missing)}")
            new_rows = [self._block_row(org_id, b, now) for b in spec.blocks]
            labels = [b["label"] for b in new_rows] + [b.label for b in shared]
            dupes = sorted({lbl for lbl in labels if labels.count(lbl) > 1})
            if dupes:
                raise InvalidInput(f"an agent's block labels must be unique: {', '.join(dupes)}")
            agent_id = new_id("agent")
            values = {
                "id": agent_id,
                "org_id": org_id,
                "name": spec.name,
                "system": spec.system,
                "model": spec.model,
                "model_settings": spec.model_settings,
                "tool_names": spec.tools,
                "tool_rules": [r.to_dict() for r in rules],
                "message_buffer_autoclear": spec.message_buffer_autoclear,
                "metadata": spec.metadata,
                "tags": list(dict.fromkeys(spec.tags)),
                "archive": spec.archive,
                "created_at": now,
                "updated_at": now,
            }
            await repo.insert_blocks(conn, new_rows)
            order = {b.id: i for i, b in enumerate(shared)}
            shared_ids = sorted(order, key=lambda b: spec.block_ids.index(b))
            await repo.insert_agent(conn, values, [r["id"] for r in new_rows] + shared_ids)
        return await self.get_agent(org_id, agent_id)

    async def get_agent(
        self, org_id: str, agent_id: str, *, context: bool = False
    ) -> dict[str, Any]:
        """The agent; with ``context``, its token budget too (``context`` key: see
        ``services.context_budget``)."""
        async with self.db.read() as conn:
            row = await repo.get_agent_row(conn, org_id, agent_id)
            if row is None:
                raise NotFound(f"agent {agent_id!r} not found")
            blocks = [b for _, b in await repo.blocks_for_agents(conn, [agent_id])]
            out = agent_out(row, blocks)
            if context:
                out["context"] = await agent_budget(conn, row, blocks)
        return out

    async def list_agents(
        self,
        org_id: str,
        *,
        limit: int = 100,
        after: str | None = None,
        tags: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Agents in id order; with ``tags``, those carrying every one of them."""
        async with self.db.read() as conn:
            rows = await repo.list_agent_rows(
                conn, org_id, limit=limit, after=after, tags=tags or ()
            )
            by_agent: dict[str, list[Any]] = {}
            for agent_id, block in await repo.blocks_for_agents(conn, [r.id for r in rows]):
                by_agent.setdefault(agent_id, []).append(block)
        return [agent_out(r, by_agent.get(r.id, [])) for r in rows]

    async def page_agents(
        self,
        org_id: str,
        *,
        after: str | None = None,
        limit: int = 100,
        all_: bool = False,
        name: str | None = None,
        tags: list[str] | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Agents in id order: ``limit`` of them (or every one with ``all_``, read a page at
        a time) and how many more there are."""
        out: list[dict[str, Any]] = []
        while True:
            want = 1000 if all_ else limit - len(out)
            async with self.db.read() as conn:
                rows = await repo.list_agent_rows(
                    conn, org_id, limit=want, after=after, name=name, tags=tags or ()
                )
                by_agent: dict[str, list[Any]] = {}
                for agent_id, block in await repo.blocks_for_agents(conn, [r.id for r in rows]):
                    by_agent.setdefault(agent_id, []).append(block)
                more = (
                    await repo.count_agent_rows(
                        conn, org_id, after=rows[-1].id, name=name, tags=tags or ()
                    )
                    if rows and len(rows) == want and not all_
                    else 0
                )
            out.extend(agent_out(r, by_agent.get(r.id, [])) for r in rows)
            if not all_ or len(rows) < want:
                return out, more
            after = rows[-1].id

    async def delete_agent(self, org_id: str, agent_id: str) -> None:
        from agentbatch.store.jobs_repo import agent_has_active_runs

        async with self.db.write() as conn:
            if await repo.get_agent_row(conn, org_id, agent_id) is None:
                raise NotFound(f"agent {agent_id!r} not found")
            if await agent_has_active_runs(conn, agent_id):
                raise Conflict(f"agent {agent_id!r} is in a running job; cancel the job first")
            await repo.delete_agent_row(conn, org_id, agent_id)
