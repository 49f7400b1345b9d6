"""Letta's agent, block and tool shapes (``CreateAgent``, ``AgentState``, ``Block``,
``Tool``) mapped onto ours, for the agent endpoints Letta batch scripts use.

Creating an agent the Letta way: ``model`` (or ``llm_config``) is mapped like an Agent
File's; ``memory_blocks`` become private blocks, ``block_ids`` attach shared ones;
``tools`` / ``tool_ids`` name tools (Letta built-ins mapped as on import) and
``include_base_tools`` (Letta's default: true) adds our memory tools; tool rules map as on
import. What cannot be honoured (an unknown tool, an approval rule, secrets, an initial
message sequence) is refused with a 422 naming it, never dropped. Provider options that
Letta has no field for go in ``metadata.agentbatch.model_settings`` (as in Agent Files)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentbatch.domain.rules import parse_rule
from agentbatch.errors import InvalidInput
from agentbatch.interop.letta import models, tools
from agentbatch.interop.letta import schema as s
from agentbatch.interop.letta.batches import message_id
from agentbatch.interop.letta.rules import rule_from_letta, rule_to_letta

AGENT_TYPE = "memgpt_v2_agent"


class CreateAgentBody(BaseModel):
    """Letta's ``CreateAgent``: the fields we honour; the rest is accepted and ignored
    (Letta-server details such as projects, templates and embeddings)."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(default="agent", min_length=1, max_length=200)
    system: str | None = Field(default=None, max_length=s.MAX_TEXT)
    agent_type: str | None = None
    model: str | None = Field(default=None, max_length=200)
    llm_config: s.LlmConfig | None = None
    model_settings: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    memory_blocks: list[s.BlockBody] | None = None
    block_ids: list[s.Id] | None = None
    tools: list[str] | None = None
    tool_ids: list[s.Id] | None = None
    include_base_tools: bool = True
    tool_rules: list[s.RuleFile] | None = None
    tags: list[s.TagText] | None = Field(default=None, max_length=1000)
    message_buffer_autoclear: bool = False
    metadata: dict[str, Any] | None = None
    secrets: dict[str, str] | None = None
    tool_exec_environment_variables: dict[str, str] | None = None
    initial_message_sequence: list[dict[str, Any]] | None = None


def agent_create(body: CreateAgentBody, tool_names_by_id: dict[str, str]) -> dict[str, Any]:
    """Our ``AgentCreate`` dict; ``tool_names_by_id`` resolves ``tool_ids``."""
    if body.secrets or body.tool_exec_environment_variables:
        raise InvalidInput("secrets: set tool secrets on the tools (`tools create --env`)")
    if body.initial_message_sequence:
        raise InvalidInput("initial_message_sequence is not supported; send the messages in a job")
    as_file = s.AgentFile(
        id="agent-0",
        model=body.model,
        llm_config=body.llm_config,
        model_settings=body.model_settings,
        metadata=body.metadata,
    )
    handle = models.letta_handle(as_file)
    if handle is None:
        raise InvalidInput("model: required (provider/model, e.g. anthropic/claude-sonnet-4-5)")
    endpoint = body.llm_config.model_endpoint_type if body.llm_config else None
    try:
        handle, _ = models.our_handle(handle, endpoint)
    except models.UnsupportedModel as exc:
        raise InvalidInput(str(exc)) from None
    settings = models.settings_from_letta(as_file)
    if body.max_tokens and "max_tokens" not in settings:
        settings["max_tokens"] = body.max_tokens
    names = _tool_names(body, tool_names_by_id)
    metadata = {k: v for k, v in (body.metadata or {}).items() if k != "agentbatch"}
    return {
        "name": body.name,
        **({"system": body.system} if body.system is not None else {}),
        "model": handle,
        "model_settings": settings,
        "blocks": [
            {
                "label": b.label,
                "value": b.value,
                "limit": b.limit,
                "description": b.description or "",
                "read_only": b.read_only,
            }
            for b in body.memory_blocks or ()
        ],
        "block_ids": list(body.block_ids or ()),
        "tools": names,
        "tool_rules": _rules(body, names),
        "tags": list(dict.fromkeys(body.tags or ())),
        "message_buffer_autoclear": body.message_buffer_autoclear,
        "metadata": metadata,
    }


def _tool_names(body: CreateAgentBody, by_id: dict[str, str]) -> list[str]:
    wanted: list[str] = []
    for j, tid in enumerate(body.tool_ids or ()):
        if tid not in by_id:
            raise InvalidInput(f"tool_ids[{j}]: unknown tool id {tid!r}")
        wanted.append(by_id[tid])
    wanted.extend(body.tools or ())
    if body.include_base_tools:
        if body.agent_type in tools.SEND_MESSAGE_AGENT_TYPES:
            wanted.append("send_message")
        wanted.extend(tools.BASE_TOOLS)
    names: list[str] = []
    for name in wanted:
        resolved = tools.builtin_for(name) if name in _letta_builtin_names() else None
        ours = resolved.name if resolved else name
        if resolved is not None and ours is None:
            raise InvalidInput(f"tools: {resolved.note}")
        if ours is not None and ours not in names:
            names.append(ours)
    return names


def _letta_builtin_names() -> set[str]:
    return {*tools.BY_BEHAVIOUR, *tools.NO_EQUIVALENT}


def _rules(body: CreateAgentBody, names: list[str]) -> list[dict[str, Any]]:
    renames = {letta: ours for letta, (ours, _) in tools.BY_BEHAVIOUR.items()}

    def rename(name: str) -> str | None:
        ours = renames.get(name, name)
        return ours if ours in names else None

    def refuse(text: str) -> None:
        raise InvalidInput(f"tool_rules: {text}")

    out = []
    for rule in body.tool_rules or ():
        mapped = rule_from_letta(rule, rename, refuse)
        if mapped is not None:
            out.append(mapped)
    return out


def letta_block(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": block["id"],
        "label": block["label"],
        "value": block["value"],
        "limit": block["limit"],
        "description": block.get("description") or None,
        "read_only": block.get("read_only", False),
        "metadata": {},
        "is_template": False,
        "template_name": None,
        "preserve_on_migration": False,
        "project_id": None,
        "hidden": None,
        "tags": [],
        "created_by_id": None,
        "last_updated_by_id": None,
    }


def builtin_tool_id(name: str) -> str:
    return f"tool-builtin-{name}"


def letta_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """Letta's ``Tool`` for an entry of our tool listing (built-ins have no id of ours)."""

    class _Row:  # the shape tool_to_letta reads
        description = tool["description"]
        parameters = tool["parameters"]
        source = tool["source"]
        settings = tool["settings"]

    builtin = tool["id"] is None
    tid = builtin_tool_id(tool["name"]) if builtin else tool["id"]
    return tools.tool_to_letta(tid, tool["name"], None if builtin else _Row())


def agent_state(
    agent: dict[str, Any], tool_list: list[dict[str, Any]], in_context: list[int]
) -> dict[str, Any]:
    """Letta's ``AgentState`` for one of our agents (``agent`` as AgentService returns it)."""
    blocks = [letta_block(b) for b in agent["blocks"]]
    settings = agent.get("model_settings") or {}
    metadata = dict(agent.get("metadata") or {})
    extras = models.settings_extras(settings)
    if extras:
        metadata["agentbatch"] = {"model_settings": extras}
    return {
        "id": agent["id"],
        "name": agent["name"],
        "system": agent["system"],
        "agent_type": AGENT_TYPE,
        "llm_config": models.llm_config_for(agent["model"], settings),
        "model": agent["model"],
        "embedding_config": None,
        "embedding": None,
        "model_settings": None,
        "memory": {
            "agent_type": AGENT_TYPE,
            "blocks": blocks,
            "file_blocks": [],
            "prompt_template": "",
        },
        "blocks": blocks,
        "tools": [letta_tool(t) for t in tool_list],
        "tool_rules": [rule_to_letta(parse_rule(r)) for r in agent["tool_rules"]],
        "sources": [],
        "tags": list(agent.get("tags") or []),
        "message_ids": [message_id(i) for i in in_context],
        "metadata": metadata,
        "description": None,
        "message_buffer_autoclear": agent["message_buffer_autoclear"],
        "secrets": [],
        "tool_exec_environment_variables": [],
        "identities": [],
        "identity_ids": [],
        "multi_agent_group": None,
        "managed_group": None,
        "timezone": "UTC",
        "created_at": agent.get("created_at"),
        "updated_at": agent.get("created_at"),
    }
