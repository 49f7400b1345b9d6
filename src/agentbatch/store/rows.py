"""Typed rows that cross the store boundary: what the runtime reads, field for field.

The runtime never sees SQLAlchemy rows or tables; each hot read builds these from a tuple
(``Type(*row)``), so the column lists in the store modules follow the field order here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ReadyGroup:
    """Queued runs of one job and model that are due, and how long the oldest waited."""

    job_id: str
    model: str
    n: int
    oldest: datetime | None


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """A queued run leased to this worker; ``fence`` is the token its claim set."""

    id: str
    job_id: str
    agent_id: str
    step: int
    attempt: int
    solver_state: dict[str, Any] | None
    pending_messages: list[dict[str, Any]] | None
    fence: int


@dataclass(frozen=True, slots=True)
class RunState:
    """A run as an apply pass reads it."""

    id: str
    job_id: str
    agent_id: str
    status: str
    step: int
    attempt: int
    current_item_id: str | None
    solver_state: dict[str, Any] | None
    reply: str | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    summary_steps: int = 0
    evicted_messages: int = 0
    context_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ToolRun:
    """A run waiting for its step's out-of-transaction tools, leased to this worker."""

    id: str
    job_id: str
    agent_id: str
    current_item_id: str
    fence: int
    tool_attempts: int
    org_id: str


@dataclass(frozen=True, slots=True)
class ToolCandidate:
    """A run whose step waits for its tools, with a free lease: which organisation's."""

    id: str
    org_id: str


@dataclass(frozen=True, slots=True)
class ItemRef:
    """An unapplied batch item: which run and job it serves."""

    id: str
    run_id: str
    job_id: str
    kind: str | None = None  # None: an agent step; "summary": a summary step
    context: dict[str, Any] | None = None  # what the prepare counted / planned


@dataclass(frozen=True, slots=True)
class JobSettings:
    """What never changes after a job is created (plus its status when read)."""

    id: str
    max_steps: int
    max_attempts: int
    options: dict[str, Any]
    status: str


@dataclass(frozen=True, slots=True)
class LeasedBatch:
    """A provider batch leased to this worker; ``fence`` is the token its claim set."""

    id: str
    job_id: str
    provider: str
    model: str
    external_id: str | None
    status: str
    poll_count: int
    fence: int
    created_at: datetime
    request_count: int
    error: str | None
    cleanup: str | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class CustomTool:
    """A custom tool as the runtime runs it."""

    id: str
    org_id: str
    name: str
    description: str
    parameters: dict[str, Any]
    source: str
    settings: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """Failed runs of a job that share an error kind: how many, and one example."""

    kind: str
    count: int
    example: str
