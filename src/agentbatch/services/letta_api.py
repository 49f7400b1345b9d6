"""Use cases behind the Letta-compatible endpoints: Letta shapes in and out, our services
underneath (jobs, agents, blocks, tools), so both APIs see the same data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentbatch.errors import InvalidInput, NotFound
from agentbatch.ids import iso
from agentbatch.interop.letta import agents as la
from agentbatch.interop.letta import batches as lb
from agentbatch.interop.letta.tools import HEARTBEAT
from agentbatch.store import jobs_repo, letta_repo

if TYPE_CHECKING:
    from agentbatch.app import AgentBatch


def _job_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "metadata": row.metadata,
        "callback_url": row.callback_url,
        "callback": {"status": row.callback_status, "error": row.callback_error},
        "created_at": iso(row.created_at),
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
    }


class LettaService:
    def __init__(self, ab: AgentBatch) -> None:
        self.ab = ab

    # -- batches ----------------------------------------------------------------------------

    async def create_batch(self, org: str, body: lb.CreateBatch) -> dict[str, Any]:
        job = await self.ab.jobs.create_job(org, lb.job_create(body))
        return lb.batch_job(job)

    async def get_batch(self, org: str, batch_id: str) -> dict[str, Any]:
        return lb.batch_job(await self.ab.jobs.get_job(org, batch_id))

    async def list_batches(
        self, org: str, *, order: lb.Order, after: str | None, before: str | None, limit: int
    ) -> list[dict[str, Any]]:
        async with self.ab.db.read() as conn:
            rows = await letta_repo.list_jobs(
                conn, org, order=order, after=after, before=before, limit=limit
            )
        return [lb.batch_job(_job_dict(r)) for r in rows]

    async def cancel_batch(self, org: str, batch_id: str) -> dict[str, Any]:
        return lb.batch_job(await self.ab.jobs.cancel_job(org, batch_id))

    async def batch_messages(
        self,
        org: str,
        batch_id: str,
        *,
        agent_id: str | None,
        order: lb.Order,
        after: str | None,
        before: str | None,
        limit: int,
    ) -> dict[str, Any]:
        after_id = lb.parse_message_id(after, "after")
        before_id = lb.parse_message_id(before, "before")
        async with self.ab.db.read() as conn:
            if await jobs_repo.get_job_row(conn, org, batch_id) is None:
                raise NotFound(f"batch {batch_id!r} not found")
            rows = await letta_repo.job_messages(
                conn,
                batch_id,
                agent_id=agent_id,
                order=order,
                after=after_id,
                before=before_id,
                limit=limit,
            )
        return {"messages": [lb.letta_message(r) for r in rows]}

    # -- agents -----------------------------------------------------------------------------

    async def _tools_by_name(self, org: str) -> dict[str, dict[str, Any]]:
        return {t["name"]: t for t in await self.ab.tools.list_tools(org)}

    async def _state(self, org: str, agent: dict[str, Any]) -> dict[str, Any]:
        return (await self._states(org, [agent]))[0]

    async def _states(self, org: str, agents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        tools = await self._tools_by_name(org)
        async with self.ab.db.read() as conn:
            ids = await letta_repo.in_context_ids(conn, [a["id"] for a in agents])
        return [
            la.agent_state(a, [tools[n] for n in a["tools"] if n in tools], ids[a["id"]])
            for a in agents
        ]

    async def create_agent(self, org: str, body: la.CreateAgentBody) -> dict[str, Any]:
        tools = await self._tools_by_name(org)
        by_id = {t["id"] or la.builtin_tool_id(n): n for n, t in tools.items()}
        agent = await self.ab.agents.create_agent(org, la.agent_create(body, by_id))
        return await self._state(org, agent)

    async def get_agent(self, org: str, agent_id: str) -> dict[str, Any]:
        return await self._state(org, await self.ab.agents.get_agent(org, agent_id))

    async def list_agents(
        self, org: str, *, limit: int, after: str | None, name: str | None, tags: list[str]
    ) -> list[dict[str, Any]]:
        page = await self.ab.agents.list_agents(org, limit=limit, after=after)
        if name is not None:
            page = [a for a in page if a["name"] == name]
        if tags:
            page = [a for a in page if set(tags) & set(a.get("tags") or ())]
        return await self._states(org, page)

    async def agent_block(self, org: str, agent_id: str, label: str) -> dict[str, Any]:
        agent = await self.ab.agents.get_agent(org, agent_id)
        for block in agent["blocks"]:
            if block["label"] == label:
                return block
        raise NotFound(f"agent {agent_id!r} has no block labelled {label!r}")

    # -- tools ------------------------------------------------------------------------------

    async def create_tool(self, org: str, body: dict[str, Any]) -> dict[str, Any]:
        source = body.get("source_code")
        if not isinstance(source, str) or not source.strip():
            raise InvalidInput("source_code: required (the Python source of one function)")
        if (body.get("source_type") or "python") != "python":
            raise InvalidInput("source_type: only Python tools are supported")
        spec: dict[str, Any] = {"source": source}
        if isinstance(body.get("description"), str):
            spec["description"] = body["description"]
        params = (body.get("json_schema") or {}).get("parameters")
        if isinstance(params, dict):
            props = {k: v for k, v in (params.get("properties") or {}).items() if k != HEARTBEAT}
            required = [r for r in params.get("required") or () if r != HEARTBEAT]
            spec["parameters"] = {**params, "properties": props, "required": required}
        reqs = body.get("pip_requirements") or []
        if not isinstance(reqs, list) or not all(isinstance(r, dict) for r in reqs):
            raise InvalidInput("pip_requirements: a list of {name, version} objects")
        spec["requirements"] = [
            f"{r['name']}=={r['version']}" if r.get("version") else str(r.get("name", ""))
            for r in reqs
        ]
        tool = await self.ab.tools.create_tool(org, spec)
        return la.letta_tool(tool)

    async def find_tool(self, org: str, tool_id: str) -> dict[str, Any]:
        for tool in await self.ab.tools.list_tools(org):
            if (tool["id"] or la.builtin_tool_id(tool["name"])) == tool_id:
                return tool
        raise NotFound(f"tool {tool_id!r} not found")
