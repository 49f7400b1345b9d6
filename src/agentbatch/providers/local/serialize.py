"""``ModelRequest`` to a JSON-able dict and back: what a ``local/`` batch entry carries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentbatch.domain.messages import Message
from agentbatch.domain.model_io import ModelRequest, ToolSpec


def request_to_dict(request: ModelRequest) -> dict[str, Any]:
    """A plain dict (JSON types only, given JSON-able ``options``) for ``request``."""
    return {
        "model": request.model,
        "system": request.system,
        "system_static": request.system_static,
        "messages": [m.to_dict() for m in request.messages],
        "tools": [
            {"name": t.name, "description": t.description, "parameters": dict(t.parameters)}
            for t in request.tools
        ],
        "tool_choice": request.tool_choice,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "options": dict(request.options),
        "step": request.step,
        "attempt": request.attempt,
        "agent_id": request.agent_id,
    }


def request_from_dict(data: Mapping[str, Any]) -> ModelRequest:
    """Inverse of :func:`request_to_dict`; missing optional keys take their defaults."""
    temperature = data.get("temperature")
    return ModelRequest(
        model=str(data.get("model", "")),
        system=str(data.get("system", "")),
        system_static=int(data.get("system_static", 0)),
        messages=tuple(Message.from_dict(dict(m)) for m in data.get("messages") or ()),
        tools=tuple(
            ToolSpec(
                name=str(t["name"]),
                description=str(t.get("description", "")),
                parameters=dict(t.get("parameters") or {}),
            )
            for t in data.get("tools") or ()
        ),
        tool_choice=str(data.get("tool_choice", "auto")),
        max_tokens=int(data.get("max_tokens", 1024)),
        temperature=None if temperature is None else float(temperature),
        options=dict(data.get("options") or {}),
        step=int(data.get("step", 0)),
        attempt=int(data.get("attempt", 1)),
        agent_id=str(data.get("agent_id", "")),
    )
