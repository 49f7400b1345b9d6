"""What goes to a model and what comes back, independent of any provider."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentbatch.domain.messages import Message, ToolCall


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the model sees it: name, description, JSON-schema parameters."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One model call, provider-neutral.

    ``model`` is the model name without the provider prefix. ``tool_choice`` is
    ``auto`` (tools optional), ``required`` (must call one of ``tools``) or ``none``.
    ``options`` carries provider-specific settings from the agent and job (for the
    scripted provider: its script). ``step`` counts the run's earlier model calls.
    ``system_static`` is how many leading characters of ``system`` stay the same from
    request to request (the agent's own prompt, before the rendered memory): providers with
    prompt caching put their breakpoint there, so a memory edit does not void the cache.
    ``purpose`` is ``step`` (an agent step) or ``summary`` (a summary step that folds
    evicted messages into the agent's running summary; see ``step.window``).
    """

    model: str
    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str = "auto"
    max_tokens: int = 1024
    temperature: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    step: int = 0
    attempt: int = 1
    agent_id: str = ""
    system_static: int = 0
    purpose: str = "step"


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Usage:
        if not data:
            return cls()
        return cls(
            int(data.get("input_tokens") or 0),
            int(data.get("output_tokens") or 0),
            int(data.get("cache_read_tokens") or 0),
            int(data.get("cache_write_tokens") or 0),
        )


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """A model's answer: optional text, optional reasoning, tool calls in order."""

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str | None = None
    reasoning_signature: str | None = None
    stop_reason: str = "end_turn"
    usage: Usage = field(default_factory=Usage)
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "tool_calls": [c.to_dict() for c in self.tool_calls],
            "reasoning": self.reasoning,
            "reasoning_signature": self.reasoning_signature,
            "stop_reason": self.stop_reason,
            "usage": self.usage.to_dict(),
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelResponse:
        return cls(
            content=data.get("content"),
            tool_calls=tuple(ToolCall.from_dict(c) for c in data.get("tool_calls") or ()),
            reasoning=data.get("reasoning"),
            reasoning_signature=data.get("reasoning_signature"),
            stop_reason=data.get("stop_reason") or "end_turn",
            usage=Usage.from_dict(data.get("usage")),
            model=data.get("model") or "",
        )


class Outcome(enum.StrEnum):
    """How one batch item ended at the provider."""

    SUCCEEDED = "succeeded"
    ERRORED = "errored"
    CANCELED = "canceled"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One item's result as a provider reports it, matched on ``custom_id``."""

    custom_id: str
    outcome: Outcome
    response: ModelResponse | None = None
    error: str | None = None
    # the response already as JSON text (``response.to_dict()`` encoded), when the
    # provider has it at hand: stored as is instead of being encoded again
    response_json: str | None = None
    # False when the provider rejected the request itself (HTTP 400, invalid_request_error):
    # sending it again cannot succeed, so the run fails at once with the provider's message
    retryable: bool = True
    # why it failed, when the runtime settles it itself (``config``, ``tool``, ...)
    error_kind: str | None = None
