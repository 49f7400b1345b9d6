"""HTTP response shapes of schedules, selectors and job estimates (see ``api.models``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Selector(BaseModel):
    id: str
    name: str
    agents: dict[str, Any] = Field(description="the conditions: ids, tags, any_tags, model")
    matching_agents: int | None = Field(None, description="agents matching now (on read)")
    created_at: str | None


class Fire(BaseModel):
    fire_at: str | None
    job_id: str | None = Field(description="null: no job (all agents busy, none matched, missed)")
    job_status: str | None
    selected: int = Field(description="agents the selector matched")
    skipped_busy: int = Field(description="of them, still busy from an earlier job")
    missed: int = Field(description="fire times that passed without a job (missed-fire policy)")
    error: str | None


class Schedule(BaseModel):
    id: str
    name: str
    cron: str
    timezone: str
    status: str = Field(description="active or paused")
    agents: dict[str, Any] | None
    selector: str | None
    messages: Any
    max_steps: int | None
    deadline_s: float | None
    max_cost_usd: float | None
    missed: str = Field(description="missed-fire policy: skip or run_once")
    grace_s: float
    next_fire_at: str | None
    last_fire_at: str | None
    fires: int
    skipped_busy_total: int
    missed_total: int
    created_at: str | None
    next_fire_times: list[str] = Field(default_factory=list)
    last_fires: list[Fire] = Field(default_factory=list)


class ModelEstimate(BaseModel):
    requests: int
    input_tokens: int
    expected_output_tokens: int
    max_output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    input_usd: float | None = None
    cached_input_usd: float | None = None
    expected_usd: float | None = None
    max_usd: float | None = None


class JobEstimate(BaseModel):
    """The first step of a job before anything is sent (batch price, no cache savings)."""

    requests: int
    input_tokens: int
    input_usd: float = Field(description="input at the batch price, before prompt caching")
    cached_input_usd: float = Field(description="input with the expected cache reads/writes")
    expected_usd: float = Field(description="cached input plus the expected output")
    max_usd: float = Field(description="input plus every request's max_tokens of output")
    by_model: dict[str, ModelEstimate]
    unpriced_models: list[str]
    busy_agents: int = Field(description="selected agents still in an unfinished job")
    unknown_agents: list[str]
    note: str
