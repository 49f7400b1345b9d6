"""Turn a validated Agent File into an import plan (rows to write) and a report of what was
mapped and what was not. Pure: the service writes the plan in one transaction.

Archival passages: Letta's Agent File has no passages today, but files from forks and
later versions may carry them (``passages`` at the top level or on an agent). They are
collected into ``AgentPlan.passages`` / ``ImportPlan.passages`` and reported as not
imported; ``services.agent_files.AgentFileService.write_passages`` is the hook where
archival memory will store them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentbatch.domain.model_settings import setting_problem
from agentbatch.domain.rules import parse_rules
from agentbatch.errors import InvalidInput
from agentbatch.interop.letta import models, tools
from agentbatch.interop.letta import schema as s
from agentbatch.interop.letta.history_import import import_history
from agentbatch.interop.letta.rules import rule_from_letta
from agentbatch.schemas import AgentCreate

DEFAULT_SYSTEM = AgentCreate.model_fields["system"].default
# agent fields we carry, or that only matter inside Letta's server (ids, file handling)
_CARRIED = frozenset(s.AgentFile.model_fields) | {
    "embedding",
    "embedding_config",
    "embedding_chunk_size",
    "include_multi_agent_tools",
    "include_base_tool_rules",
    "include_default_source",
    "initial_message_sequence",
    "context_window_limit",
    "max_tokens",
    "max_reasoning_tokens",
    "enable_reasoner",
    "reasoning",
    "from_template",
    "template",
    "project",
    "project_id",
    "template_id",
    "base_template_id",
    "memory_variables",
    "max_files_open",
    "per_file_view_window_char_limit",
    "hidden",
    "parallel_tool_calls",
    "timezone",
    "files_agents",
    "group_ids",
    "source_ids",
    "folder_ids",
    "identity_ids",
}


@dataclass
class Report:
    mapped: list[str] = field(default_factory=list)
    not_imported: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"mapped": self.mapped, "not_imported": self.not_imported}


@dataclass
class AgentPlan:
    file_id: str
    values: dict[str, Any]  # agents row without id, org, timestamps
    block_refs: list[str]  # block file ids, in the agent's order
    messages: list[dict[str, Any]]
    passages: list[Any] = field(default_factory=list)


@dataclass
class ImportPlan:
    blocks: dict[str, dict[str, Any]]  # file id -> block fields
    tools: dict[str, dict[str, Any]]  # name -> custom tool fields
    agents: list[AgentPlan]
    report: Report
    passages: list[Any] = field(default_factory=list)


def plan_import(doc: s.AgentFileDoc, *, model: str | None = None) -> ImportPlan:
    report = Report()
    blocks = {b.id: _block(b) for b in doc.blocks}
    by_id, custom = _tools(doc, report)
    agents = [
        _agent(i, agent, doc, blocks, by_id, custom, model, report)
        for i, agent in enumerate(doc.agents)
    ]
    for key in ("groups", "files", "sources", "mcp_servers", "skills"):
        items = getattr(doc, key)
        if items:
            report.not_imported.append(f"{len(items)} {key} (not supported by agentbatch)")
    passages = list(getattr(doc, "passages", None) or [])
    total = len(passages) + sum(len(a.passages) for a in agents)
    if total:
        report.not_imported.append(
            f"{total} archival memory passage(s): agentbatch has no archival memory yet"
        )
    return ImportPlan(blocks, custom, agents, report, passages)


def _block(b: s.BlockBody) -> dict[str, Any]:
    if len(b.value) > b.limit:
        raise InvalidInput(
            f"block {b.label!r}: value has {len(b.value)} characters, over its limit of {b.limit}"
        )
    return {
        "label": b.label,
        "value": b.value,
        "limit": b.limit,
        "description": b.description or "",
        "read_only": b.read_only,
    }


def _tools(
    doc: s.AgentFileDoc, report: Report
) -> tuple[dict[str, tools.Resolved], dict[str, dict[str, Any]]]:
    """file tool id -> what it became; custom tools to create, by name."""
    by_id: dict[str, tools.Resolved] = {}
    custom: dict[str, dict[str, Any]] = {}
    for i, tool in enumerate(doc.tools):
        if tool.tool_type.startswith("letta_") and tool.name:
            resolved = tools.builtin_for(tool.name, tool.tool_type)
        else:
            row, why = tools.custom_tool_row(tool)
            if row is None:
                if tool.name and not tool.source_code and tool.tool_type == "custom":
                    resolved = tools.builtin_for(tool.name)  # a built-in typed as custom
                else:
                    resolved = tools.Resolved(None, why or f"tools[{i}] could not be imported")
            else:
                if row["name"] in custom and custom[row["name"]]["source"] != row["source"]:
                    raise InvalidInput(f"tools[{i}]: two different tools named {row['name']!r}")
                custom[row["name"]] = row
                resolved = tools.Resolved(row["name"])
        by_id[tool.id] = resolved
        if resolved.note:
            (report.mapped if resolved.mapped else report.not_imported).append(resolved.note)
    return by_id, custom


def _agent(
    i: int,
    agent: s.AgentFile,
    doc: s.AgentFileDoc,
    blocks: dict[str, dict[str, Any]],
    by_id: dict[str, tools.Resolved],
    custom: dict[str, dict[str, Any]],
    model_override: str | None,
    report: Report,
) -> AgentPlan:
    where = f"agents[{i}]"
    label = agent.name or agent.id

    def note(text: str) -> None:
        report.not_imported.append(f"{label}: {text}")

    refs = _block_refs(i, agent, blocks)
    names = _tool_names(i, agent, by_id, custom, label, report)
    rules = _rules(agent, names, label, report)
    handle = _model(i, agent, model_override, label, report)
    settings = models.settings_from_letta(agent)
    for key, value in list(settings.items()):
        problem = setting_problem(key, value)
        if problem is not None:
            del settings[key]
            note(f"not imported: {problem}")
    metadata = {k: v for k, v in (agent.metadata or {}).items() if k != "agentbatch"}
    history = import_history(agent, where, note)
    secrets = agent.secrets or agent.tool_exec_environment_variables or {}
    if secrets:
        note(
            f"secrets {', '.join(sorted(secrets))} were not imported (exports carry no values); "
            "set them on the tools with `agentbatch tools create --env NAME=value`"
        )
    extra = sorted(k for k, v in (agent.model_extra or {}).items() if k not in _CARRIED and v)
    if agent.description:
        extra.insert(0, "description")
    if extra:
        note(f"agent fields not carried: {', '.join(extra[:12])}")
    passages = list((agent.model_extra or {}).get("passages") or [])
    values = {
        "name": label,
        "system": agent.system if agent.system is not None else DEFAULT_SYSTEM,
        "model": handle,
        "model_settings": settings,
        "tool_names": names,
        "tool_rules": rules,
        "message_buffer_autoclear": agent.message_buffer_autoclear,
        "metadata": metadata,
        "tags": list(dict.fromkeys(agent.tags or [])),
    }
    return AgentPlan(agent.id, values, refs, history, passages)


def _block_refs(i: int, agent: s.AgentFile, blocks: dict[str, dict[str, Any]]) -> list[str]:
    refs: list[str] = []
    for j, ref in enumerate(agent.block_ids or ()):
        if ref not in blocks:
            raise InvalidInput(f"agents[{i}].block_ids[{j}]: no block with id {ref!r} in the file")
        if ref not in refs:
            refs.append(ref)
    for j, inline in enumerate(agent.memory_blocks or ()):
        key = f"{agent.id}/memory_blocks[{j}]"
        blocks[key] = _block(inline)
        refs.append(key)
    labels = [blocks[r]["label"] for r in refs]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise InvalidInput(f"agents[{i}]: two memory blocks labelled {dupes[0]!r}")
    return refs


def _tool_names(
    i: int,
    agent: s.AgentFile,
    by_id: dict[str, tools.Resolved],
    custom: dict[str, dict[str, Any]],
    label: str,
    report: Report,
) -> list[str]:
    names: list[str] = []
    resolved: list[tools.Resolved] = []
    for j, ref in enumerate(agent.tool_ids or ()):
        if ref not in by_id:
            raise InvalidInput(f"agents[{i}].tool_ids[{j}]: no tool with id {ref!r} in the file")
        resolved.append(by_id[ref])
    for name in agent.tools or ():
        if name in custom:
            resolved.append(tools.Resolved(name))
        else:
            found = tools.builtin_for(name)
            resolved.append(found)
            if found.note:
                (report.mapped if found.mapped else report.not_imported).append(
                    f"{label}: {found.note}"
                )
    if agent.include_base_tools:
        base = list(tools.BASE_TOOLS)
        if agent.agent_type in tools.SEND_MESSAGE_AGENT_TYPES:
            base.insert(0, "send_message")
        resolved.extend(tools.Resolved(n) for n in base)
        report.mapped.append(f"{label}: include_base_tools -> {', '.join(base)}")
    for r in resolved:
        if r.name is not None and r.name not in names:
            names.append(r.name)
    return names


def _rules(agent: s.AgentFile, names: list[str], label: str, report: Report) -> list[Any]:
    letta_names = _letta_names(agent, names)

    def rename(name: str) -> str | None:
        ours = letta_names.get(name)
        return ours if ours in names else None

    def note(text: str) -> None:
        report.not_imported.append(f"{label}: {text}")

    out = []
    for rule in agent.tool_rules or ():
        mapped = rule_from_letta(rule, rename, note)
        if mapped is not None and mapped not in out:
            out.append(mapped)
    try:
        return [r.to_dict() for r in parse_rules(out, names)]
    except ValueError as exc:  # cannot happen after rename(); kept as a guard
        raise InvalidInput(f"{label}: {exc}") from None


def _letta_names(agent: s.AgentFile, names: list[str]) -> dict[str, str]:
    """Letta tool name -> ours, for names this agent may use in rules."""
    out = {n: n for n in names}
    for letta, (ours, _) in tools.BY_BEHAVIOUR.items():
        out.setdefault(letta, ours)
    return out


def _model(i: int, agent: s.AgentFile, override: str | None, label: str, report: Report) -> str:
    original = models.letta_handle(agent)
    if override:
        if original and original != override:
            report.mapped.append(f"{label}: model {original} -> {override} (--model)")
        return override
    if original is None:
        raise InvalidInput(f"agents[{i}]: no model (set llm_config or model, or pass --model)")
    endpoint = agent.llm_config.model_endpoint_type if agent.llm_config else None
    try:
        handle, change = models.our_handle(original, endpoint)
    except models.UnsupportedModel as exc:
        raise InvalidInput(f"agents[{i}].llm_config: {exc}") from None
    if change:
        report.mapped.append(f"{label}: {change}")
    return handle
