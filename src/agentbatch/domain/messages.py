"""Provider-neutral chat messages, as stored in an agent's history and sent to models."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call made by the model. ``id`` is the provider's own id, kept verbatim."""

    id: str
    name: str
    arguments: str  # the raw JSON text the model produced

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolCall:
        args = data.get("arguments", "{}")
        if not isinstance(args, str):
            args = json.dumps(args)
        return cls(id=str(data["id"]), name=str(data["name"]), arguments=args)


@dataclass(frozen=True, slots=True)
class Message:
    """A message in an agent's history.

    ``kind`` says where it came from: ``input`` (the user's, from a job request),
    ``heartbeat`` (a system-generated continuation), ``assistant`` and ``tool``.
    The system message is never stored: it is rendered from memory on every request.
    """

    role: Role
    content: str | None = None
    reasoning: str | None = None
    reasoning_signature: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool = False
    kind: str = "input"

    @staticmethod
    def user(content: str, kind: str = "input") -> Message:
        return Message(role="user", content=content, kind=kind)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "kind": self.kind}
        if self.content is not None:
            out["content"] = self.content
        if self.reasoning is not None:
            out["reasoning"] = self.reasoning
        if self.reasoning_signature is not None:
            out["reasoning_signature"] = self.reasoning_signature
        if self.tool_calls:
            out["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        if self.is_error:
            out["is_error"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(
            role=data["role"],
            content=data.get("content"),
            reasoning=data.get("reasoning"),
            reasoning_signature=data.get("reasoning_signature"),
            tool_calls=tuple(ToolCall.from_dict(c) for c in data.get("tool_calls") or ()),
            tool_call_id=data.get("tool_call_id"),
            name=data.get("name"),
            is_error=bool(data.get("is_error", False)),
            kind=data.get("kind", "input"),
        )


@dataclass(frozen=True, slots=True)
class InputMessage:
    """A message a user submits in a job request (validated form)."""

    role: Literal["user"]
    content: str
    extra: dict[str, Any] = field(default_factory=dict)


def parse_input_messages(raw: Any) -> list[Message]:
    """Validate the ``messages`` of one job request. Raises ValueError with a clear reason.

    Accepts a string (one user message), or a non-empty list of ``{"role": "user",
    "content": str}`` objects (a bare string in the list is a user message too).
    """
    if isinstance(raw, str):
        if not raw.strip():
            raise ValueError("messages must not be empty")
        return [Message.user(raw)]
    if not isinstance(raw, list) or not raw:
        raise ValueError("messages must be a non-empty list of {role, content} objects")
    out: list[Message] = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            item = {"role": "user", "content": item}
        if not isinstance(item, dict):
            raise ValueError(f"messages[{i}] must be an object with role and content")
        role = item.get("role", "user")
        if role != "user":
            raise ValueError(f"messages[{i}].role must be 'user' (got {role!r})")
        content = item.get("content")
        if not isinstance(content, str) or not content.strip():
            raise ValueError(f"messages[{i}].content must be a non-empty string")
        out.append(Message.user(content))
    return out
