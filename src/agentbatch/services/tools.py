"""Custom Python tools: register (schema derived from the source), list, show, delete.

A tool's limits are checked against the operator's (``SecuritySettings``) when it is
registered: asking for more time or memory than the maximum, or for network access where
the operator forbids it, is refused with a clear message (422), never silently clamped.
The executor also clamps at run time, for tools registered before a maximum was lowered.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from agentbatch.errors import Conflict, InvalidInput, NotFound
from agentbatch.ids import Clock, iso, new_id, utcnow
from agentbatch.input_limits import PARAMETERS_BYTES, json_problem
from agentbatch.schemas import ToolCreate, ToolUpdate
from agentbatch.services.agents import parse_model
from agentbatch.services.policy import TenantPolicy
from agentbatch.store import agents_repo as repo
from agentbatch.store.db import Database
from agentbatch.store.tables import agents, tools
from agentbatch.tools.builtins import BUILTIN_SPECS

MASK = "****"


def masked_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """A tool's settings as shown to people and API callers: environment values (often
    secrets) are masked; the names stay, so one can see what is set."""
    out = dict(settings or {})
    if isinstance(out.get("env"), dict):
        out["env"] = {name: MASK for name in out["env"]}
    return out


def tool_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "parameters": row.parameters,
        "source": row.source,
        "settings": {"allow_network": False, **masked_settings(row.settings)},
        "created_at": iso(row.created_at),
    }


def builtin_out(name: str) -> dict[str, Any]:
    spec = BUILTIN_SPECS[name]
    return {
        "id": None,
        "name": name,
        "description": spec.description,
        "parameters": dict(spec.parameters),
        "source": None,
        "settings": {"builtin": True},
    }


def _derive(source: str) -> Any:
    from agentbatch.tools.python_schema import derive_tool_schema

    try:
        return derive_tool_schema(source)
    except ValueError as exc:
        message = str(exc)
        if not message.startswith("tool source"):
            message = f"tool source: {message}"
        raise InvalidInput(message) from None


class ToolService:
    """Custom tools; what a tenant may register is the ``policy``'s to say (operator
    limits, requirements, and whether custom tools may be registered here at all)."""

    def __init__(
        self, db: Database, clock: Clock = utcnow, policy: TenantPolicy | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy or TenantPolicy()

    async def create_tool(self, org_id: str, data: ToolCreate | dict[str, Any]) -> dict[str, Any]:
        spec: ToolCreate = parse_model(ToolCreate, data)
        self.policy.check_tools_allowed()
        requirements = self.policy.check_tool(spec)
        derived = _derive(spec.source)
        name = spec.name or derived.name
        if name != derived.name:
            raise InvalidInput(f"the source defines {derived.name!r}, not {name!r}")
        if name in BUILTIN_SPECS:
            raise InvalidInput(f"{name!r} is a built-in tool name")
        parameters = spec.parameters if spec.parameters is not None else derived.parameters
        if parameters.get("type") != "object":
            raise InvalidInput("parameters must be a JSON schema of type object")
        problem = json_problem(parameters, PARAMETERS_BYTES)
        if problem is not None:
            raise InvalidInput(f"parameters: the schema {problem}")
        settings: dict[str, Any] = {
            "env": spec.env,
            "requirements": requirements,
            "wants_agent_id": derived.wants_agent_id,
            "wants_memory": derived.wants_memory,
        }
        settings["allow_network"] = spec.allow_network
        if spec.timeout_s:
            settings["timeout_s"] = spec.timeout_s
        if spec.memory_mb:
            settings["memory_mb"] = spec.memory_mb
        row = {
            "id": new_id("tool"),
            "org_id": org_id,
            "name": name,
            "description": spec.description or derived.description,
            "parameters": parameters,
            "source": spec.source,
            "settings": settings,
            "created_at": self.clock(),
        }
        async with self.db.write() as conn:
            if await repo.tool_rows(conn, org_id, [name]):
                raise Conflict(f"a tool named {name!r} already exists")
            await conn.execute(tools.insert().values(**row))
        return await self.get_tool(org_id, name)

    async def update_tool(
        self, org_id: str, name: str, data: ToolUpdate | dict[str, Any]
    ) -> dict[str, Any]:
        """Change a custom tool (see :mod:`agentbatch.services.tool_updates`)."""
        from agentbatch.services.tool_updates import update_tool

        return await update_tool(self, org_id, name, data)

    async def get_tool(self, org_id: str, name: str) -> dict[str, Any]:
        if name in BUILTIN_SPECS:
            return builtin_out(name)
        async with self.db.read() as conn:
            rows = await repo.tool_rows(conn, org_id, [name])
        if not rows:
            raise NotFound(f"tool {name!r} not found")
        return tool_out(rows[0])

    async def list_tools(
        self, org_id: str, *, include_builtins: bool = True
    ) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            rows = await repo.tool_rows(conn, org_id)
        out = [builtin_out(n) for n in BUILTIN_SPECS] if include_builtins else []
        return out + [tool_out(r) for r in rows]

    async def delete_tool(self, org_id: str, name: str) -> None:
        if name in BUILTIN_SPECS:
            raise InvalidInput(f"{name!r} is a built-in tool; only custom tools can be deleted")
        async with self.db.write() as conn:
            rows = await repo.tool_rows(conn, org_id, [name])
            if not rows:
                raise NotFound(f"tool {name!r} not found")
            users = await conn.execute(
                select(agents.c.name, agents.c.tool_names).where(agents.c.org_id == org_id)
            )
            using = [r.name for r in users if name in (r.tool_names or ())]
            if using:
                shown = ", ".join(repr(n) for n in using[:3]) + (", ..." if len(using) > 3 else "")
                raise Conflict(
                    f"tool {name!r} is used by {len(using)} agent(s) ({shown}); "
                    "remove it from them first"
                )
            await conn.execute(tools.delete().where(tools.c.id == rows[0].id))
