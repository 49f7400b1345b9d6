"""Agent File (``.af``) import and export: validate and map (interop.letta), then write the
whole file in one transaction, or read agents back into the same format."""

from __future__ import annotations

from collections import Counter
from typing import Any

from agentbatch.errors import Conflict, InvalidInput, NotFound
from agentbatch.ids import Clock, new_id, utcnow
from agentbatch.interop.letta.exporter import AgentRows, build_agent_file
from agentbatch.interop.letta.importer import ImportPlan, plan_import
from agentbatch.interop.letta.parse import parse_agent_file
from agentbatch.interop.letta.schema import AgentFileDoc
from agentbatch.schemas import ToolCreate
from agentbatch.services.parsing import parse_model
from agentbatch.services.policy import TenantPolicy
from agentbatch.store import agent_files_repo as files_repo
from agentbatch.store import agents_repo as repo
from agentbatch.store.db import Database
from agentbatch.tools.builtins import BUILTIN_SPECS

_MESSAGE_DEFAULTS: dict[str, Any] = {
    "content": None,
    "reasoning": None,
    "reasoning_signature": None,
    "tool_calls": None,
    "tool_call_id": None,
    "name": None,
    "is_error": False,
}


class AgentFileService:
    def __init__(
        self, db: Database, clock: Clock = utcnow, policy: TenantPolicy | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy or TenantPolicy()

    async def import_file(
        self,
        org_id: str,
        data: Any,
        *,
        model: str | None = None,
        strict: bool = False,
    ) -> dict[str, Any]:
        """Create the file's agents, blocks, tools and histories; returns what was created,
        what was mapped and what was not imported. ``model`` overrides every agent's model;
        ``strict`` refuses a file with anything that cannot be imported. Models and custom
        tools are checked as when created one by one (``TenantPolicy``)."""
        doc = data if isinstance(data, AgentFileDoc) else parse_agent_file(data)
        if model is not None:
            self.policy.check_model(model)
        plan = plan_import(doc, model=model)
        for i, agent in enumerate(plan.agents):
            self.policy.check_model(agent.values["model"], f"agents[{i}].model")
        for name, tool in plan.tools.items():
            self._check_tool(name, tool)
        lost = plan.report.not_imported
        if strict and lost:
            more = f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
            raise InvalidInput(f"strict import: not everything can be imported: {lost[0]}{more}")
        return await self._write(org_id, plan)

    async def _write(self, org_id: str, plan: ImportPlan) -> dict[str, Any]:
        now = self.clock()
        created: list[str] = []
        reused: list[str] = []
        agents_out: list[dict[str, Any]] = []
        async with self.db.write() as conn:
            existing = {r.name: r for r in await repo.tool_rows(conn, org_id, list(plan.tools))}
            tool_rows = []
            for name, tool in plan.tools.items():
                row = existing.get(name)
                if row is None:
                    tool_rows.append({"id": new_id("tool"), "org_id": org_id, **tool})
                    tool_rows[-1]["created_at"] = now
                    created.append(name)
                elif row.source == tool["source"]:
                    reused.append(name)
                else:
                    raise Conflict(
                        f"a different tool named {name!r} already exists in this organisation; "
                        "delete or rename one of them, then import again"
                    )
            if tool_rows:
                self.policy.check_tools_allowed()
            await files_repo.insert_tools(conn, tool_rows)
            block_ids = {ref: new_id("block") for ref in plan.blocks}
            await repo.insert_blocks(
                conn,
                [
                    {
                        "id": block_ids[ref],
                        "org_id": org_id,
                        **fields,
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for ref, fields in plan.blocks.items()
                ],
                source="import",
            )
            agent_ids = [new_id("agent") for _ in plan.agents]
            await files_repo.insert_agents(
                conn,
                [
                    {"id": aid, "org_id": org_id, **a.values, "created_at": now, "updated_at": now}
                    for aid, a in zip(agent_ids, plan.agents, strict=True)
                ],
                [
                    {"agent_id": aid, "block_id": block_ids[ref], "position": i}
                    for aid, a in zip(agent_ids, plan.agents, strict=True)
                    for i, ref in enumerate(a.block_refs)
                ],
            )
            await files_repo.insert_messages(
                conn,
                (
                    {
                        **_MESSAGE_DEFAULTS,
                        **m,
                        "org_id": org_id,
                        "agent_id": aid,
                        "job_id": None,
                        "run_id": None,
                        "step": None,
                        "created_at": m.get("created_at") or now,
                    }
                    for aid, a in zip(agent_ids, plan.agents, strict=True)
                    for m in a.messages
                ),
            )
            for aid, agent in zip(agent_ids, plan.agents, strict=True):
                agents_out.append(
                    {
                        "file_id": agent.file_id,
                        "id": aid,
                        "name": agent.values["name"],
                        "model": agent.values["model"],
                        "tools": agent.values["tool_names"],
                        "blocks": [plan.blocks[r]["label"] for r in agent.block_refs],
                        "messages": len(agent.messages),
                        "in_context": sum(1 for m in agent.messages if m["in_context"]),
                    }
                )
            await self.write_passages(conn, plan)
        sharing = Counter(r for agent in plan.agents for r in agent.block_refs)
        return {
            "agents": agents_out,
            "blocks": len(plan.blocks),
            "shared_blocks": sum(1 for n in sharing.values() if n > 1),
            "tools": {"created": created, "reused": reused},
            **plan.report.to_dict(),
        }

    def _check_tool(self, name: str, tool: dict[str, Any]) -> None:
        """A tool of the file, checked as a new tool would be; its requirements are
        stored normalised."""
        settings = tool["settings"]
        fields = {
            "source": tool["source"],
            "name": name,
            "description": tool["description"],
            "parameters": tool["parameters"],
            "requirements": settings.get("requirements") or [],
            "timeout_s": settings.get("timeout_s"),
            "memory_mb": settings.get("memory_mb"),
        }
        try:
            spec: ToolCreate = parse_model(ToolCreate, fields)
        except InvalidInput as exc:
            raise InvalidInput(f"tool {name!r}: {exc}") from None
        settings["requirements"] = self.policy.check_tool(spec, f"tool {name!r}: ")

    async def write_passages(self, conn: Any, plan: ImportPlan) -> None:
        """Hook for archival memory: ``plan.passages`` (file level) and each
        ``AgentPlan.passages`` hold the file's passages. Nothing stores them yet; the
        import report lists them as not imported."""
        return None

    async def export_agents(self, org_id: str, agent_ids: list[str]) -> dict[str, Any]:
        """The agents (with their blocks, tools and full histories) as one Agent File."""
        ids = list(dict.fromkeys(agent_ids))
        if not ids:
            raise InvalidInput("name at least one agent to export")
        async with self.db.read() as conn:
            rows = await files_repo.agent_rows(conn, org_id, ids)
            missing = [i for i in ids if i not in {r.id for r in rows}]
            if missing:
                raise NotFound(f"agent {missing[0]!r} not found")
            blocks: dict[str, list[Any]] = {}
            for agent_id, block in await repo.blocks_for_agents(conn, ids):
                blocks.setdefault(agent_id, []).append(block)
            names = {n for r in rows for n in r.tool_names if n not in BUILTIN_SPECS}
            tools = {t.name: t for t in await repo.tool_rows(conn, org_id, names)}
            gone = sorted(names - set(tools))
            if gone:
                raise Conflict(f"tool {gone[0]!r} is used by an agent but no longer exists")
            histories = await files_repo.history_rows(conn, ids)
            agents = [AgentRows(r, blocks.get(r.id, []), histories.get(r.id, [])) for r in rows]
        return build_agent_file(agents, tools, self.clock())
