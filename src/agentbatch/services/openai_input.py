"""An OpenAI Batch API input file as an agentbatch job: each line's ``custom_id`` names an
agent (id or name), or a new agent is made from a template for it."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from agentbatch.errors import InvalidInput
from agentbatch.interop.openai_batch import OpenAIRequest, model_handle, parse_lines
from agentbatch.schemas import AgentCreate
from agentbatch.services.agents import parse_model
from agentbatch.store import lookup
from agentbatch.store.db import Database


@dataclass
class OpenAIJobPlan:
    """What submitting the file will do: requests for existing agents, agents to create
    (named by their custom_id), the job metadata that restores custom_ids on export."""

    requests: list[dict[str, Any]] = field(default_factory=list)  # agent_id or new_name
    new_agents: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    models: set[str] = field(default_factory=set)  # of existing agents

    def bind(self, created: dict[str, str]) -> list[dict[str, Any]]:
        """The job's requests once the new agents exist (name -> id); a mixed file's
        custom_id map learns the new agents' ids."""
        mapping = self.metadata.get("openai_batch", {}).get("custom_ids")
        if isinstance(mapping, dict):
            mapping.update({agent_id: name for name, agent_id in created.items()})
        out = []
        for r in self.requests:
            agent_id = r.get("agent_id") or created[r["new_name"]]
            out.append({"agent_id": agent_id, "messages": r["messages"]})
        return out


def _new_agent(template: dict[str, Any], request: OpenAIRequest) -> dict[str, Any]:
    spec = copy.deepcopy(template)
    spec["name"] = request.custom_id
    if request.system is not None:
        spec["system"] = request.system
    if "model" not in template:
        handle = model_handle(request.model)
        if handle is None:
            raise InvalidInput(
                f"line {request.line}: no model: give body.model or a model in the template"
            )
        spec["model"] = handle
    settings = dict(spec.get("model_settings") or {})
    for key, value in request.settings.items():
        settings.setdefault(key, value)
    spec["model_settings"] = settings
    spec["metadata"] = {**(spec.get("metadata") or {}), "created_from": "openai_batch_file"}
    parse_model(AgentCreate, spec)  # every new agent is checked before anything is written
    return spec


async def plan_openai_job(
    db: Database, org_id: str, rows: list[Any], template: dict[str, Any] | None
) -> OpenAIJobPlan:
    try:
        requests = parse_lines(rows)
    except ValueError as exc:
        raise InvalidInput(f"OpenAI batch file: {exc}") from None
    if not requests:
        raise InvalidInput("the OpenAI batch file has no requests")
    ids = [r.custom_id for r in requests]
    async with db.read() as conn:
        by_id = await lookup.existing_agent_ids(conn, org_id, ids)
        by_name = await lookup.agents_named(conn, org_id, ids)
        models = await lookup_models(conn, org_id, [*by_id, *(v[0] for v in by_name.values())])
    plan = OpenAIJobPlan()
    unknown: list[str] = []
    used: dict[str, str] = {}  # agent id -> custom_id
    kinds: set[str] = set()
    ignored: set[str] = set()
    system_ignored = 0
    for r in requests:
        ignored.update(r.ignored)
        named = by_name.get(r.custom_id, [])
        if r.custom_id in by_id:
            agent_id, kind = r.custom_id, "id"
        elif len(named) == 1:
            agent_id, kind = named[0], "name"
        elif len(named) > 1:
            raise InvalidInput(
                f"line {r.line}: custom_id {r.custom_id!r} names {len(named)} agents; "
                "use agent ids as custom_id"
            )
        elif template is None:
            unknown.append(r.custom_id)
            continue
        else:
            plan.new_agents.append(_new_agent(template, r))
            plan.requests.append({"new_name": r.custom_id, "messages": r.messages})
            kinds.add("name")
            continue
        if agent_id in used:
            raise InvalidInput(
                f"line {r.line}: custom_id {r.custom_id!r} names the same agent as "
                f"{used[agent_id]!r}; an agent takes one request per job"
            )
        used[agent_id] = r.custom_id
        kinds.add(kind)
        system_ignored += r.system is not None
        plan.models.add(models[agent_id])
        plan.requests.append({"agent_id": agent_id, "messages": r.messages})
    if unknown:
        more = f" (and {len(unknown) - 10} more)" if len(unknown) > 10 else ""
        raise InvalidInput(
            f"no agent has the id or name {', '.join(repr(u) for u in unknown[:10])}{more}; "
            "give --template AGENT.json (or --model) to create agents for them"
        )
    if len(kinds) == 1:
        plan.metadata = {"openai_batch": {"custom_id": kinds.pop()}}
    else:
        plan.metadata = {"openai_batch": {"custom_ids": dict(used)}}
    if ignored:
        plan.warnings.append(f"body fields not used by agentbatch: {', '.join(sorted(ignored))}")
    if system_ignored:
        plan.warnings.append(
            f"{system_ignored} line(s) name existing agents: their system messages were "
            "ignored (an agent keeps its own system prompt)"
        )
    return plan


async def lookup_models(conn: Any, org_id: str, agent_ids: list[str]) -> dict[str, str]:
    from agentbatch.store.agents_repo import agent_models

    return await agent_models(conn, org_id, agent_ids)
