"""Agents and memory blocks as the step logic sees them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from agentbatch.domain.rules import ToolRule

DEFAULT_BLOCK_LIMIT = 5000


@dataclass(frozen=True, slots=True)
class BlockView:
    """One memory block: a labelled, size-limited piece of core memory (may be shared)."""

    id: str
    label: str
    value: str
    limit: int = DEFAULT_BLOCK_LIMIT
    description: str = ""
    read_only: bool = False
    version: int = 1

    def with_value(self, value: str) -> BlockView:
        return replace(self, value=value, version=self.version + 1)


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """The parts of an agent that shape its requests and its step decisions."""

    id: str
    name: str
    system: str
    model: str  # full handle, e.g. "anthropic/claude-sonnet-4-5"
    tool_names: tuple[str, ...] = ()
    rules: tuple[ToolRule, ...] = ()
    model_settings: Mapping[str, Any] = field(default_factory=dict)
    message_buffer_autoclear: bool = False
    archive: str | None = None  # a shared archival memory's name (None: its own)

    @property
    def provider(self) -> str:
        return split_handle(self.model)[0]

    @property
    def model_name(self) -> str:
        return split_handle(self.model)[1]


def split_handle(handle: str) -> tuple[str, str]:
    """``"anthropic/claude-x"`` -> ``("anthropic", "claude-x")``; ValueError if malformed."""
    provider, sep, model = handle.partition("/")
    if not sep or not provider or not model:
        raise ValueError(
            "model handle must look like 'provider/model', for example "
            f"anthropic/claude-sonnet-4-5, openai/gpt-4.1-mini or local/smollm2 (got {handle!r})"
        )
    return provider, model
