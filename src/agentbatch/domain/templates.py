"""Job messages templated per agent: ``{{agent.name}}``, ``{{agent.id}}``,
``{{agent.model}}``, ``{{agent.tags}}`` (comma-separated) and ``{{agent.metadata.KEY}}``
(``KEY`` may be a dotted path into nested metadata). A metadata field an agent lacks
renders empty; a value that is not a string renders as JSON. Nothing else is evaluated:
the text around the placeholders is copied as is."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentbatch.domain.messages import parse_input_messages

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_FIELD = re.compile(r"agent\.(id|name|model|tags|metadata((?:\.[A-Za-z0-9_\-]{1,64}){1,8}))")
MAX_PLACEHOLDERS = 64


@dataclass(frozen=True, slots=True)
class AgentFields:
    """What a template may use of an agent."""

    id: str
    name: str
    model: str
    tags: Sequence[str]
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class MessageTemplate:
    """Parsed user messages: each is a list of literal text and field references."""

    parts: tuple[tuple[str | tuple[str, ...], ...], ...]

    @property
    def per_agent(self) -> bool:
        return any(not isinstance(p, str) for msg in self.parts for p in msg)

    def render(self, agent: AgentFields) -> list[dict[str, Any]]:
        """The messages for ``agent`` as stored input messages; ValueError if one of them
        renders blank."""
        out = []
        for i, msg in enumerate(self.parts):
            text = "".join(p if isinstance(p, str) else _value(agent, p) for p in msg)
            if not text.strip():
                raise ValueError(f"messages[{i}] renders empty for agent {agent.id}")
            out.append({"role": "user", "kind": "input", "content": text})
        return out


def compile_template(raw: Any) -> MessageTemplate:
    """Check the messages (a string or a list of user messages, as a job request's) and
    their placeholders; ValueError naming the first bad one."""
    messages = parse_input_messages(raw)
    parts = []
    count = 0
    for i, msg in enumerate(messages):
        text = msg.content or ""
        pieces: list[str | tuple[str, ...]] = []
        pos = 0
        for match in _PLACEHOLDER.finditer(text):
            count += 1
            if count > MAX_PLACEHOLDERS:
                raise ValueError(f"at most {MAX_PLACEHOLDERS} placeholders in a job's messages")
            field = _FIELD.fullmatch(match.group(1))
            if field is None:
                raise ValueError(
                    f"messages[{i}]: unknown placeholder {match.group(0)!r}; use "
                    "{{agent.name}}, {{agent.id}}, {{agent.model}}, {{agent.tags}} or "
                    "{{agent.metadata.KEY}}"
                )
            pieces.append(text[pos : match.start()])
            path = field.group(2)
            pieces.append(("metadata", *path[1:].split(".")) if path else (field.group(1),))
            pos = match.end()
        pieces.append(text[pos:])
        parts.append(tuple(p for p in pieces if p != ""))
    return MessageTemplate(tuple(parts))


def _value(agent: AgentFields, path: tuple[str, ...]) -> str:
    head = path[0]
    if head == "tags":
        return ", ".join(agent.tags)
    if head != "metadata":
        return str(getattr(agent, head))
    value: Any = agent.metadata
    for key in path[1:]:
        if not isinstance(value, Mapping) or key not in value:
            return ""
        value = value[key]
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
