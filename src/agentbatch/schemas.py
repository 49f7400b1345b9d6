"""Input shapes shared by the Python API, the CLI and the HTTP API (validated with pydantic).

These are not the database tables: services turn them into rows after checking them against
the store (tools exist, blocks exist, rules name the agent's own tools). Every field has a
size cap (``agentbatch.input_limits``; the table in docs/security.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agentbatch.domain.agents import DEFAULT_BLOCK_LIMIT, split_handle
from agentbatch.input_limits import (
    BLOCK_VALUE_CHARS,
    DESCRIPTION_CHARS,
    ENV_ENTRIES,
    ENV_NAME_CHARS,
    ENV_VALUE_CHARS,
    ID_CHARS,
    LABEL_CHARS,
    LIST_ITEMS,
    MODEL_HANDLE_CHARS,
    NAME_CHARS,
    SYSTEM_CHARS,
    TOOL_SOURCE_CHARS,
    URL_CHARS,
    Messages,
    Metadata,
    ModelSettings,
    Options,
    Parameters,
    ToolRules,
)
from agentbatch.selection_schemas import AgentSelector as AgentSelector
from agentbatch.selection_schemas import ScheduleCreate as ScheduleCreate
from agentbatch.selection_schemas import SelectorCreate as SelectorCreate

MAX_JOB_REQUESTS = 100_000

Tag = Annotated[str, Field(min_length=1, max_length=NAME_CHARS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BlockCreate(_Strict):
    label: str = Field(min_length=1, max_length=LABEL_CHARS, pattern=r"^[A-Za-z0-9_\-]+$")
    value: str = Field(default="", max_length=BLOCK_VALUE_CHARS)
    limit: int = Field(default=DEFAULT_BLOCK_LIMIT, ge=1, le=BLOCK_VALUE_CHARS)
    description: str = Field(default="", max_length=DESCRIPTION_CHARS)
    read_only: bool = False


class BlockUpdate(_Strict):
    value: str | None = Field(default=None, max_length=BLOCK_VALUE_CHARS)
    limit: int | None = Field(default=None, ge=1, le=BLOCK_VALUE_CHARS)
    description: str | None = Field(default=None, max_length=DESCRIPTION_CHARS)
    read_only: bool | None = None


ToolName = Annotated[str, Field(min_length=1, max_length=NAME_CHARS)]
BlockId = Annotated[str, Field(min_length=1, max_length=ID_CHARS)]


class AgentCreate(_Strict):
    name: str = Field(min_length=1, max_length=NAME_CHARS)
    system: str = Field(
        default="You are a helpful agent with persistent memory.", max_length=SYSTEM_CHARS
    )
    model: str = Field(default="scripted/default", max_length=MODEL_HANDLE_CHARS)
    model_settings: ModelSettings = Field(default_factory=dict)
    blocks: list[BlockCreate] = Field(
        default_factory=list, max_length=LIST_ITEMS, description="new private blocks"
    )
    block_ids: list[BlockId] = Field(
        default_factory=list, max_length=LIST_ITEMS, description="existing (shared) blocks"
    )
    tools: list[ToolName] = Field(default_factory=lambda: ["send_message"], max_length=LIST_ITEMS)
    tool_rules: ToolRules = Field(default_factory=list, max_length=LIST_ITEMS)
    message_buffer_autoclear: bool = False
    metadata: Metadata = Field(default_factory=dict)
    tags: list[Annotated[str, Field(min_length=1, max_length=NAME_CHARS)]] = Field(
        default_factory=list, max_length=LIST_ITEMS
    )

    archive: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_\-.]+$",
        description="share archival memory with the organisation's agents of this archive",
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


EnvName = Annotated[str, Field(min_length=1, max_length=ENV_NAME_CHARS)]
EnvValue = Annotated[str, Field(max_length=ENV_VALUE_CHARS)]
Requirement = Annotated[str, Field(max_length=200)]


class AgentUpdate(_Strict):
    """Fields to change (absent or null: unchanged). Lists replace the agent's list."""

    name: str | None = Field(default=None, min_length=1, max_length=NAME_CHARS)
    system: str | None = Field(default=None, max_length=SYSTEM_CHARS)
    model: str | None = Field(default=None, max_length=MODEL_HANDLE_CHARS)
    model_settings: ModelSettings | None = None
    tools: list[ToolName] | None = Field(default=None, max_length=LIST_ITEMS)
    tool_rules: ToolRules | None = Field(default=None, max_length=LIST_ITEMS)
    message_buffer_autoclear: bool | None = None
    metadata: Metadata | None = None
    tags: list[Tag] | None = Field(default=None, max_length=LIST_ITEMS)

    @field_validator("model")
    @classmethod
    def _handle(cls, value: str | None) -> str | None:
        if value is not None:
            split_handle(value)
        return value

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("tools must not repeat a name")
        return value


class ToolUpdate(_Strict):
    """A custom tool's changes: new source (its schema is derived again), description,
    environment, requirements, limits, network. Absent or null: unchanged."""

    source: str | None = Field(default=None, min_length=1, max_length=TOOL_SOURCE_CHARS)
    description: str | None = Field(default=None, max_length=DESCRIPTION_CHARS)
    parameters: Parameters | None = None
    env: dict[EnvName, EnvValue | None] | None = Field(
        default=None,
        max_length=ENV_ENTRIES,
        description="variables to set; null removes one (values are kept secret)",
    )
    requirements: list[Requirement] | None = Field(default=None, max_length=32)
    timeout_s: float | None = Field(
        default=None, gt=0, le=3600, description="at most AGENTBATCH_TOOL_MAX_TIMEOUT"
    )
    memory_mb: int | None = Field(
        default=None, ge=16, le=65536, description="at most AGENTBATCH_TOOL_MAX_MEMORY_MB"
    )
    allow_network: bool | None = Field(
        default=None,
        description="reach public addresses (only where AGENTBATCH_TOOLS_ALLOW_NETWORK=1)",
    )


class ToolCreate(_Strict):
    source: str = Field(min_length=1, max_length=TOOL_SOURCE_CHARS)
    name: str | None = Field(default=None, max_length=NAME_CHARS)
    description: str | None = Field(default=None, max_length=DESCRIPTION_CHARS)
    parameters: Parameters | None = None
    env: dict[EnvName, EnvValue] = Field(default_factory=dict, max_length=ENV_ENTRIES)
    requirements: list[Requirement] = Field(default_factory=list, max_length=32)
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="at most the operator's AGENTBATCH_TOOL_MAX_TIMEOUT",
    )
    memory_mb: int | None = Field(
        default=None, ge=16, le=65536, description="at most AGENTBATCH_TOOL_MAX_MEMORY_MB"
    )
    allow_network: bool = Field(
        default=False,
        description="reach public addresses (only where AGENTBATCH_TOOLS_ALLOW_NETWORK=1)",
    )


class JobRequest(_Strict):
    agent_id: str = Field(min_length=1, max_length=ID_CHARS)
    messages: Messages


class JobCreate(_Strict):
    requests: list[JobRequest] | None = Field(
        default=None,
        max_length=MAX_JOB_REQUESTS,
        description="one request per agent; or address agents with `agents` / `selector`",
    )
    agents: AgentSelector | None = Field(
        default=None, description="the agents to run (ids, tags, model), with `messages`"
    )
    selector: str | None = Field(
        default=None, max_length=NAME_CHARS, description="a saved selector's name"
    )
    messages: Messages | None = Field(
        default=None,
        description="messages for every selected agent; may use {{agent.name}}, "
        "{{agent.id}}, {{agent.model}}, {{agent.tags}}, {{agent.metadata.KEY}}",
    )
    skip_busy: bool | None = Field(
        default=None,
        description="leave out agents still busy in another job (default: yes for "
        "selectors; a request list is refused with 409 instead)",
    )
    deadline: str | None = Field(
        default=None,
        max_length=64,
        description="finish by this time (ISO 8601 with offset) or within a duration (6h)",
    )
    max_cost_usd: float | None = Field(
        default=None, gt=0, le=1e9, description="stop sending before the job costs more"
    )
    max_steps: int = Field(default=10, ge=1, le=1000)
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    callback_url: str | None = Field(default=None, max_length=URL_CHARS)
    metadata: Metadata = Field(default_factory=dict)
    options: Options = Field(
        default_factory=dict, description="provider options for every request (e.g. script)"
    )

    @model_validator(mode="after")
    def _one_target(self) -> JobCreate:
        by_selector = self.agents is not None or self.selector is not None
        if self.requests is None and not by_selector:
            raise ValueError("give `requests`, or `agents` / `selector` with `messages`")
        if self.requests is not None and (by_selector or self.messages is not None):
            raise ValueError(
                "`requests` cannot be combined with `agents`, `selector` or `messages`"
            )
        if by_selector and self.messages is None:
            raise ValueError("`messages` is required with `agents` / `selector`")
        return self
