"""Input shapes of agent selections and schedules (validated with pydantic; see
``agentbatch.schemas``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentbatch.input_limits import (
    ID_CHARS,
    MODEL_HANDLE_CHARS,
    NAME_CHARS,
    URL_CHARS,
    Messages,
    Metadata,
    Options,
)

MAX_SELECTED_IDS = 100_000
Tag = Annotated[str, Field(min_length=1, max_length=NAME_CHARS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


AgentId = Annotated[str, Field(min_length=1, max_length=ID_CHARS)]


class AgentSelector(_Strict):
    """Which agents a job or schedule addresses; every condition given must hold."""

    ids: list[AgentId] | None = Field(
        default=None, max_length=MAX_SELECTED_IDS, description="only these agents"
    )
    tags: list[Tag] = Field(
        default_factory=list, max_length=32, description="agents carrying every one of these tags"
    )
    any_tags: list[Tag] = Field(
        default_factory=list, max_length=32, description="agents carrying at least one of these"
    )
    model: str | None = Field(
        default=None, max_length=MODEL_HANDLE_CHARS, description="agents of this model handle"
    )

    @model_validator(mode="after")
    def _something(self) -> AgentSelector:
        if self.ids is None and not self.tags and not self.any_tags and self.model is None:
            raise ValueError("a selector needs ids, tags, any_tags or model")
        return self


class SelectorCreate(_Strict):
    name: str = Field(min_length=1, max_length=NAME_CHARS, pattern=r"^[A-Za-z0-9_.\-]+$")
    agents: AgentSelector


class ScheduleCreate(_Strict):
    name: str | None = Field(default=None, max_length=NAME_CHARS)
    cron: str = Field(min_length=1, max_length=200, description="5-field cron expression")
    timezone: str = Field(default="UTC", max_length=64, description="IANA zone of the cron")
    agents: AgentSelector | None = None
    selector: str | None = Field(default=None, max_length=NAME_CHARS)
    messages: Messages = Field(description="as a job's `messages`, templated per agent")
    max_steps: int = Field(default=10, ge=1, le=1000)
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    deadline: str | None = Field(
        default=None, max_length=64, description="a duration after each fire (6h)"
    )
    max_cost_usd: float | None = Field(default=None, gt=0, le=1e9)
    callback_url: str | None = Field(default=None, max_length=URL_CHARS)
    metadata: Metadata = Field(default_factory=dict)
    options: Options = Field(default_factory=dict)
    missed: Literal["skip", "run_once"] = Field(
        default="run_once",
        description="fires missed while no worker ran: skip them, or run one job for them",
    )
    grace_s: float = Field(
        default=300.0, ge=1, le=7 * 86400, description="a fire this late still counts as on time"
    )

    @model_validator(mode="after")
    def _target(self) -> ScheduleCreate:
        if (self.agents is None) == (self.selector is None):
            raise ValueError("give exactly one of `agents` and `selector`")
        return self
