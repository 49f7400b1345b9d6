"""Change a custom tool after creation: new source (the same function), description,
parameters, environment (merged: a null value removes a variable), requirements, limits,
network. The result is checked as a new tool would be (operator limits, requirement
syntax); agents using the tool are touched, so workers re-read them before the next request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentbatch.errors import InvalidInput, NotFound
from agentbatch.input_limits import PARAMETERS_BYTES, json_problem
from agentbatch.schemas import ToolCreate, ToolUpdate
from agentbatch.services.agents import parse_model
from agentbatch.store import agent_edits as edits
from agentbatch.store import agents_repo as repo
from agentbatch.tools.builtins import BUILTIN_SPECS

if TYPE_CHECKING:
    from agentbatch.services.tools import ToolService


def _merged_env(current: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    env = dict(current)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


async def update_tool(
    service: ToolService, org_id: str, name: str, data: ToolUpdate | dict[str, Any]
) -> dict[str, Any]:
    from agentbatch.services.tools import _derive

    spec: ToolUpdate = parse_model(ToolUpdate, data)
    if name in BUILTIN_SPECS:
        raise InvalidInput(f"{name!r} is a built-in tool; only custom tools can be changed")
    if not spec.model_dump(exclude_none=True):
        raise InvalidInput("nothing to change: give at least one field")
    service.policy.check_tools_allowed()
    async with service.db.write() as conn:
        rows = await repo.tool_rows(conn, org_id, [name])
        if not rows:
            raise NotFound(f"tool {name!r} not found")
        row = rows[0]
        settings = dict(row.settings or {})
        env = _merged_env(settings.get("env") or {}, spec.env or {})
        keep = {k: settings.get(k) for k in ("timeout_s", "memory_mb") if settings.get(k)}
        merged: ToolCreate = parse_model(
            ToolCreate,
            {
                "source": spec.source if spec.source is not None else row.source,
                "env": env,
                "requirements": spec.requirements
                if spec.requirements is not None
                else settings.get("requirements") or [],
                "timeout_s": spec.timeout_s or keep.get("timeout_s"),
                "memory_mb": spec.memory_mb or keep.get("memory_mb"),
                "allow_network": spec.allow_network
                if spec.allow_network is not None
                else bool(settings.get("allow_network")),
            },
        )
        requirements = service.policy.check_tool(merged)  # as for a new tool
        values: dict[str, Any] = {}
        if spec.source is not None:
            derived = _derive(spec.source)
            if derived.name != name:
                raise InvalidInput(
                    f"the new source defines {derived.name!r}, not {name!r} "
                    "(a tool keeps its name; create a new tool instead)"
                )
            values.update(
                source=spec.source, parameters=derived.parameters, description=derived.description
            )
            settings.update(
                wants_agent_id=derived.wants_agent_id, wants_memory=derived.wants_memory
            )
        if spec.parameters is not None:
            if spec.parameters.get("type") != "object":
                raise InvalidInput("parameters must be a JSON schema of type object")
            problem = json_problem(spec.parameters, PARAMETERS_BYTES)
            if problem is not None:
                raise InvalidInput(f"parameters: the schema {problem}")
            values["parameters"] = spec.parameters
        if spec.description is not None:
            values["description"] = spec.description
        settings.update(env=env, requirements=requirements, allow_network=merged.allow_network)
        for key in ("timeout_s", "memory_mb"):
            if getattr(merged, key):
                settings[key] = getattr(merged, key)
        values["settings"] = settings
        await edits.update_tool_row(conn, org_id, row.id, values)
        users = await edits.agents_using_tool(conn, org_id, name)
        await edits.touch_agents(conn, [u.id for u in users], service.clock())
    return await service.get_tool(org_id, name)
