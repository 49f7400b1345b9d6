"""Letta's response shapes, as documented in our OpenAPI (extra fields pass through)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentbatch.interop.letta.schema import LETTA_BLOCK_LIMIT, BlockBody


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class BatchJob(_Open):
    id: str
    status: str = Field(description="created, running, completed, failed or cancelled")
    job_type: str = "batch"
    created_at: str | None = None
    updated_at: str | None = None
    completed_at: str | None = None
    stop_reason: str | None = None
    metadata: dict[str, Any] | None = None
    callback_url: str | None = None
    callback_sent_at: str | None = None
    callback_status_code: int | None = None
    callback_error: str | None = None
    total_duration_ns: int | None = None


class LettaMessage(_Open):
    id: str
    role: str
    content: list[dict[str, Any]]
    agent_id: str | None = None
    batch_item_id: str | None = None
    run_id: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    tool_returns: list[dict[str, Any]] | None = None
    created_at: str | None = None


class BatchMessages(BaseModel):
    messages: list[LettaMessage]


class LettaBlock(_Open):
    id: str
    label: str
    value: str
    limit: int
    description: str | None = None
    read_only: bool = False


class LettaTool(_Open):
    id: str
    name: str
    tool_type: str
    description: str | None = None
    source_code: str | None = None
    json_schema: dict[str, Any] | None = None


class AgentState(_Open):
    id: str
    name: str
    system: str
    agent_type: str
    model: str
    llm_config: dict[str, Any]
    memory: dict[str, Any]
    blocks: list[LettaBlock]
    tools: list[LettaTool]
    tool_rules: list[dict[str, Any]]
    tags: list[str]
    message_ids: list[str]
    metadata: dict[str, Any]
    message_buffer_autoclear: bool
    created_at: str | None = None


class CreateBlock(BlockBody):
    """Letta's ``CreateBlock`` (template and project fields are accepted and ignored)."""

    limit: int = Field(default=LETTA_BLOCK_LIMIT, ge=1, le=1_000_000)


class BlockUpdate(_Open):
    value: str | None = Field(default=None, max_length=1_000_000)
    limit: int | None = Field(default=None, ge=1, le=1_000_000)
    description: str | None = Field(default=None, max_length=100_000)
    read_only: bool | None = None

    def ours(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("value", "limit", "description", "read_only")
            if getattr(self, k) is not None
        }


class PipRequirement(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    version: str | None = Field(default=None, max_length=100)


class ToolCreate(_Open):
    """Letta's ``ToolCreate``: a Python function's source (schema derived from it)."""

    source_code: str = Field(min_length=1, max_length=1_000_000)
    source_type: str = "python"
    description: str | None = Field(default=None, max_length=100_000)
    json_schema: dict[str, Any] | None = None
    pip_requirements: list[PipRequirement] | None = None
