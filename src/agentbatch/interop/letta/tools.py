"""Tools: Letta's built-ins mapped to ours by name and behaviour; Python source tools become
our custom tools; everything else is reported, never silently dropped."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agentbatch.interop.letta import schema as s
from agentbatch.tools.builtins import BUILTIN_SPECS
from agentbatch.tools.python_schema import derive_tool_schema

HEARTBEAT = "request_heartbeat"

# Letta built-ins whose behaviour ours share, under another name (arguments differ; the
# model sees our schema from then on)
BY_BEHAVIOUR: dict[str, tuple[str, str]] = {
    "memory_replace": (
        "core_memory_replace",
        "same edit; its arguments old_string/new_string are old_content/new_content here",
    ),
    "memory_insert": (
        "core_memory_append",
        "appends at the end of the block (insert_line is not supported); new_string is "
        "content here",
    ),
    "memory_rethink": (
        "rethink_memory",
        "same rewrite; its argument label is target_block_label here",
    ),
}
NO_EQUIVALENT: dict[str, str] = {
    "memory": "Letta's multi-command memory tool has no equivalent (use core_memory_*)",
    "memory_apply_patch": "patch-based memory edits have no equivalent (use core_memory_*)",
    "memory_finish_edits": "a marker tool in Letta's sleep-time loop; not needed here",
    "finish_rethinking_memory": "a marker tool in Letta's sleep-time loop; not needed here",
}
# how our built-ins are typed in Letta (so that a Letta server regenerates their schema)
LETTA_TOOL_TYPES = {
    "send_message": "letta_core",
    "conversation_search": "letta_core",
    "conversation_search_date": "letta_core",
    "archival_memory_insert": "letta_core",
    "archival_memory_search": "letta_core",
    "core_memory_append": "letta_memory_core",
    "core_memory_replace": "letta_memory_core",
    "rethink_memory": "letta_sleeptime_core",
}
BASE_TOOLS = ("core_memory_append", "core_memory_replace", "conversation_search")
SEND_MESSAGE_AGENT_TYPES = frozenset(
    {"memgpt_agent", "memgpt_v2_agent", "sleeptime_agent", "split_thread_agent"}
)
_REQUIREMENT = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([A-Za-z0-9_.+!\-]+)$")


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a Letta tool became: our tool name (or None) and a note for the report."""

    name: str | None
    note: str | None = None
    mapped: bool = False  # True: a mapping worth reporting; False with a note: a loss


def builtin_for(name: str, tool_type: str = "letta_core") -> Resolved:
    if name in BUILTIN_SPECS:
        return Resolved(name)
    if name in BY_BEHAVIOUR:
        ours, how = BY_BEHAVIOUR[name]
        return Resolved(ours, f"tool {name} -> {ours}: {how}", mapped=True)
    why = NO_EQUIVALENT.get(name, f"a Letta built-in ({tool_type}) with no agentbatch equivalent")
    return Resolved(None, f"tool {name}: {why}")


def custom_tool_row(tool: s.ToolFile) -> tuple[dict[str, Any] | None, str | None]:
    """(our tool fields, None) for a Python source tool, else (None, why not)."""
    name = tool.name or "?"
    if tool.tool_type == "external_mcp":
        return None, f"tool {name}: MCP tools are not supported"
    if tool.tool_type != "custom":
        return None, f"tool {name}: Letta tool type {tool.tool_type} is not supported"
    if (tool.source_type or "python") != "python" or not tool.source_code:
        return None, f"tool {name}: only tools with Python source can be imported"
    try:
        derived = derive_tool_schema(tool.source_code)
    except ValueError as exc:
        hint = (
            " (Letta's agent_state argument: take `memory` and/or `agent_id` instead)"
            if "agent_state" in str(exc)
            else ""
        )
        return None, f"tool {name}: {exc}{hint}"
    if tool.name and tool.name != derived.name:
        return None, f"tool {name}: its source defines {derived.name!r}, not {name!r}"
    if derived.name in BUILTIN_SPECS:
        return None, f"tool {derived.name}: a custom tool may not take a built-in's name"
    js = tool.json_schema or {}
    params = js.get("parameters") if isinstance(js.get("parameters"), dict) else None
    parameters = _without_heartbeat(params) if params else derived.parameters
    if parameters.get("type") != "object":
        return None, f"tool {name}: json_schema.parameters must be of type object"
    extras = (tool.metadata_ or {}).get("agentbatch") or {}
    settings: dict[str, Any] = {
        "env": {},
        "requirements": [_requirement(r) for r in tool.pip_requirements or ()],
        "wants_agent_id": derived.wants_agent_id,
        "wants_memory": derived.wants_memory,
    }
    for key in ("timeout_s", "memory_mb"):
        if isinstance(extras.get(key), int | float) and not isinstance(extras.get(key), bool):
            settings[key] = extras[key]
    description = js.get("description") if isinstance(js.get("description"), str) else None
    return {
        "name": derived.name,
        "description": description or tool.description or derived.description,
        "parameters": parameters,
        "source": tool.source_code,
        "settings": settings,
    }, None


def _without_heartbeat(params: dict[str, Any]) -> dict[str, Any]:
    props = {k: v for k, v in (params.get("properties") or {}).items() if k != HEARTBEAT}
    required = [r for r in params.get("required") or () if r != HEARTBEAT]
    return {**params, "properties": props, "required": required}


def _requirement(req: s.PipRequirement) -> str:
    return f"{req.name}=={req.version}" if req.version else req.name


def _letta_requirement(spec: str) -> dict[str, Any]:
    match = _REQUIREMENT.match(spec.strip())
    if match:
        return {"name": match.group(1), "version": match.group(2)}
    return {"name": spec.strip(), "version": None}


def tool_to_letta(file_id: str, name: str, row: Any | None) -> dict[str, Any]:
    """A Letta ToolSchema dict for one of our tools (``row`` None: a built-in)."""
    if row is None:
        spec = BUILTIN_SPECS[name]
        return _tool_dict(
            file_id,
            name,
            LETTA_TOOL_TYPES.get(name, "letta_core"),
            spec.description,
            dict(spec.parameters),
        )
    settings = row.settings or {}
    out = _tool_dict(file_id, name, "custom", row.description, dict(row.parameters))
    out["source_code"] = row.source
    out["pip_requirements"] = [_letta_requirement(r) for r in settings.get("requirements") or ()]
    extras = {k: settings[k] for k in ("timeout_s", "memory_mb") if settings.get(k)}
    if extras:
        out["metadata_"] = {"agentbatch": extras}
    return out


def _tool_dict(
    file_id: str, name: str, tool_type: str, description: str, params: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": file_id,
        "tool_type": tool_type,
        "name": name,
        "description": description,
        "source_type": "python",
        "source_code": None,
        "json_schema": {"name": name, "description": description, "parameters": params},
        "args_json_schema": None,
        "tags": [],
        "return_char_limit": 50000,
        "pip_requirements": None,
        "npm_requirements": None,
        "default_requires_approval": None,
        "enable_parallel_execution": False,
        "metadata_": {},
    }
