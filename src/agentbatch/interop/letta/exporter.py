"""Write our agents as a Letta Agent File (v2, ``AgentFileSchema``). Pure: the service reads
the rows. Secrets are written as Letta writes them (names kept, values emptied); settings
Letta has no field for (provider options, tool timeouts) ride in ``metadata.agentbatch``,
which the importer reads back, so ``import(export(x))`` keeps them."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agentbatch import __version__
from agentbatch.domain.agents import BlockView
from agentbatch.domain.rules import parse_rule
from agentbatch.ids import iso
from agentbatch.interop.letta import models
from agentbatch.interop.letta.history_export import export_history
from agentbatch.interop.letta.rules import rule_to_letta
from agentbatch.interop.letta.tools import tool_to_letta
from agentbatch.step.memory import MemoryRenderer


@dataclass
class AgentRows:
    agent: Any
    blocks: list[Any]
    messages: list[Any] = field(default_factory=list)


def build_agent_file(
    agents: Sequence[AgentRows], custom_tools: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """``custom_tools``: name -> tool row, for every custom tool the agents use."""
    ids: dict[str, itertools.count[int]] = {}

    def file_id(prefix: str) -> str:
        return f"{prefix}-{next(ids.setdefault(prefix, itertools.count()))}"

    block_ids: dict[str, str] = {}
    blocks: list[dict[str, Any]] = []
    tool_ids: dict[str, str] = {}
    tools: list[dict[str, Any]] = []
    renderer = MemoryRenderer()
    out_agents = []
    for rows in agents:
        for b in rows.blocks:
            if b.id not in block_ids:
                block_ids[b.id] = file_id("block")
                blocks.append(_block(block_ids[b.id], b))
        for name in rows.agent.tool_names:
            if name not in tool_ids:
                tool_ids[name] = file_id("tool")
                tools.append(tool_to_letta(tool_ids[name], name, custom_tools.get(name)))
        out_agents.append((rows, file_id("agent")))
    agents_out = [
        _agent(rows, aid, block_ids, tool_ids, custom_tools, renderer, lambda: file_id("message"))
        for rows, aid in out_agents
    ]
    return {
        "agents": agents_out,
        "groups": [],
        "blocks": blocks,
        "files": [],
        "sources": [],
        "tools": tools,
        "mcp_servers": [],
        "skills": [],
        "metadata": {"exported_by": f"agentbatch {__version__}"},
        "created_at": iso(now),
    }


def _block(file_id: str, b: Any) -> dict[str, Any]:
    return {
        "id": file_id,
        "label": b.label,
        "value": b.value,
        "limit": b.limit,
        "description": b.description or None,
        "read_only": bool(b.read_only),
        "metadata": {},
        "is_template": False,
        "template_name": None,
        "preserve_on_migration": False,
        "project_id": None,
        "tags": [],
    }


def _agent(
    rows: AgentRows,
    agent_file_id: str,
    block_ids: Mapping[str, str],
    tool_ids: Mapping[str, str],
    custom_tools: Mapping[str, Any],
    renderer: MemoryRenderer,
    new_message_id: Any,
) -> dict[str, Any]:
    a = rows.agent
    settings = dict(a.model_settings or {})
    views = [
        BlockView(b.id, b.label, b.value, b.limit, b.description or "", bool(b.read_only))
        for b in rows.blocks
    ]
    messages, in_context = export_history(
        rows.messages,
        agent_file_id=agent_file_id,
        system_text=renderer.system_message(a.system, views),
        system_at=min([a.created_at, *(m.created_at for m in rows.messages[:1])], key=_utc),
        new_id=new_message_id,
    )
    metadata = dict(a.metadata or {})
    extras = models.settings_extras(settings)
    if extras:
        metadata["agentbatch"] = {"model_settings": extras}
    env_keys = sorted({k for n in a.tool_names if n in custom_tools for k in _env(custom_tools[n])})
    secrets = {k: "" for k in env_keys} or None
    return {
        "id": agent_file_id,
        "name": a.name,
        "system": a.system,
        "agent_type": "memgpt_v2_agent",
        "llm_config": models.llm_config_for(a.model, settings),
        "embedding_config": None,
        "model": None,
        "embedding": None,
        "memory_blocks": [],
        "tools": [],
        "tool_ids": [tool_ids[n] for n in a.tool_names],
        "block_ids": [block_ids[b.id] for b in rows.blocks],
        "source_ids": [],
        "folder_ids": None,
        "identity_ids": None,
        "tool_rules": [rule_to_letta(parse_rule(r)) for r in a.tool_rules or ()],
        "tags": list(getattr(a, "tags", None) or []),
        "include_base_tools": False,
        "include_multi_agent_tools": False,
        "include_base_tool_rules": False,
        "include_default_source": False,
        "initial_message_sequence": None,
        "description": None,
        "metadata": metadata,
        "message_buffer_autoclear": bool(a.message_buffer_autoclear),
        "secrets": secrets,
        "tool_exec_environment_variables": secrets,
        "enable_sleeptime": False,
        "timezone": "UTC",
        "messages": messages,
        "in_context_message_ids": in_context,
        "files_agents": [],
        "group_ids": [],
    }


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _env(tool_row: Any) -> list[str]:
    env = (tool_row.settings or {}).get("env") or {}
    return list(env) if isinstance(env, dict) else []
