"""Input shapes shared by the Python API, the CLI and the HTTP API (validated with pydantic).

These are not the database tables: services turn them into rows after checking them against
the store (tools exist, blocks exist, rules name the agent's own tools)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentbatch.domain.agents import DEFAULT_BLOCK_LIMIT, split_handle


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BlockCreate(_Strict):
    label: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")
    value: str = ""
    limit: int = Field(default=DEFAULT_BLOCK_LIMIT, ge=1, le=1_000_000)
    description: str = ""
    read_only: bool = False


class BlockUpdate(_Strict):
    value: str | None = None
    limit: int | None = Field(default=None, ge=1, le=1_000_000)
    description: str | None = None
    read_only: bool | None = None


class AgentCreate(_Strict):
    name: str = Field(min_length=1, max_length=200)
    system: str = "You are a helpful agent with persistent memory."
    model: str = "scripted/default"
    model_settings: dict[str, Any] = Field(default_factory=dict)
    blocks: list[BlockCreate] = Field(default_factory=list, description="new private blocks")
    block_ids: list[str] = Field(default_factory=list, description="existing (shared) blocks")
    tools: list[str] = Field(default_factory=lambda: ["send_message"])
    tool_rules: list[dict[str, Any]] = Field(default_factory=list)
    message_buffer_autoclear: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=1000
    )

    @field_validator("model")
    @classmethod
    def _handle(cls, value: str) -> str:
        split_handle(value)
        return value

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("tools must not repeat a name")
        return value


class ToolCreate(_Strict):
    source: str = Field(min_length=1)
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    env: dict[str, str] = Field(default_factory=dict)
    requirements: list[str] = Field(default_factory=list)
    timeout_s: float | None = Field(default=None, gt=0, le=3600)
    memory_mb: int | None = Field(default=None, ge=16, le=65536)


class JobRequest(_Strict):
    agent_id: str = Field(min_length=1)
    messages: Any


class JobCreate(_Strict):
    requests: list[JobRequest]
    max_steps: int = Field(default=10, ge=1, le=1000)
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    callback_url: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(
        default_factory=dict, description="provider options for every request (e.g. script)"
    )
