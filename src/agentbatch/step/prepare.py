"""Assemble one model request from an agent's state: memory, context window, allowed tools."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentbatch.domain.agents import AgentSpec, BlockView
from agentbatch.domain.messages import Message
from agentbatch.domain.model_io import ModelRequest, ToolSpec
from agentbatch.domain.model_settings import setting_problem
from agentbatch.step.memory import MemoryRenderer
from agentbatch.step.solver import RuleSet, SolverState

HEARTBEAT_ARG = "request_heartbeat"
_HEARTBEAT_SCHEMA = {
    "type": "boolean",
    "description": "Set true to take another step after this tool runs (to see its result "
    "and continue); false to stop here.",
}
# model settings that shape the request itself; everything else is a provider option
_REQUEST_SETTINGS = frozenset({"max_tokens", "temperature"})


def add_heartbeat(spec: ToolSpec) -> ToolSpec:
    """The schema the model sees: the tool's own plus a required ``request_heartbeat``."""
    params = dict(spec.parameters)
    props = dict(params.get("properties") or {})
    props[HEARTBEAT_ARG] = _HEARTBEAT_SCHEMA
    required = [r for r in params.get("required") or () if r != HEARTBEAT_ARG]
    params.update(type="object", properties=props, required=[*required, HEARTBEAT_ARG])
    return ToolSpec(spec.name, spec.description, params)


# memory tools whose block-label argument is limited to the agent's writable labels
LABEL_ARGS = {
    "core_memory_append": "label",
    "core_memory_replace": "label",
    "rethink_memory": "target_block_label",
}


def with_label_enum(spec: ToolSpec, arg: str, labels: tuple[str, ...]) -> ToolSpec:
    """Offer only real, writable labels: models (small ones above all) then cannot miss."""
    params = dict(spec.parameters)
    props = dict(params.get("properties") or {})
    props[arg] = {**props.get(arg, {}), "enum": list(labels)}
    params["properties"] = props
    return ToolSpec(spec.name, spec.description, params)


class ToolCatalog:
    """Tool specs by name (built-ins and custom tools) with heartbeat-augmented copies."""

    def __init__(self, specs: Mapping[str, ToolSpec]) -> None:
        self.specs = dict(specs)
        self._model_specs: dict[tuple[str, tuple[str, ...]], ToolSpec] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def model_spec(self, name: str, labels: tuple[str, ...] = ()) -> ToolSpec:
        """The schema sent to the model; memory tools list the agent's writable labels."""
        arg = LABEL_ARGS.get(name)
        key = (name, labels if arg else ())
        spec = self._model_specs.get(key)
        if spec is None:
            spec = add_heartbeat(self.specs[name])
            if arg and labels:
                spec = with_label_enum(spec, arg, labels)
            self._model_specs[key] = spec
        return spec


def provider_options(agent: AgentSpec, job_options: Mapping[str, Any]) -> dict[str, Any]:
    options = dict(job_options)
    options.update((k, v) for k, v in agent.model_settings.items() if k not in _REQUEST_SETTINGS)
    return options


def build_request(
    agent: AgentSpec,
    blocks: Sequence[BlockView],
    context: Sequence[Message],
    state: SolverState,
    *,
    catalog: ToolCatalog,
    renderer: MemoryRenderer,
    step: int,
    attempt: int = 1,
    job_options: Mapping[str, Any] | None = None,
    rules: RuleSet | None = None,
) -> ModelRequest:
    ruleset = rules if rules is not None else RuleSet(agent.rules)
    allowed = ruleset.allowed(agent.tool_names, state)
    writable = tuple(b.label for b in blocks if not b.read_only)
    tools = tuple(catalog.model_spec(n, writable) for n in allowed if n in catalog)
    if not tools:
        tool_choice = "none"
    elif ruleset.must_call_tool(state):
        tool_choice = "required"
    else:
        tool_choice = "auto"
    settings = agent.model_settings
    for key in _REQUEST_SETTINGS & settings.keys():  # stored before settings were checked
        problem = setting_problem(key, settings[key])
        if problem is not None:
            raise ValueError(
                f"{problem}; change it with `agentbatch agents update {agent.id} --set {key}=...`"
            )
    temperature = settings.get("temperature")
    return ModelRequest(
        model=agent.model_name,
        system=renderer.system_message(agent.system, blocks),
        messages=tuple(context),
        tools=tools,
        tool_choice=tool_choice,
        max_tokens=int(settings.get("max_tokens") or 1024),
        temperature=float(temperature) if temperature is not None else None,
        options=provider_options(agent, job_options or {}),
        step=step,
        attempt=attempt,
        agent_id=agent.id,
        system_static=len(agent.system),
    )
