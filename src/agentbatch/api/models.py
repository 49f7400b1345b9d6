"""HTTP response shapes (the OpenAPI schema); request bodies are ``agentbatch.schemas``.

These mirror what the services return and are not the database tables: a table can change
without changing the API, and the API documents only what a caller may rely on."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a listing. Pass ``next_cursor`` as ``cursor`` to read on while
    ``has_more`` is true; for messages it also lets you tail a running job."""

    data: list[T]
    has_more: bool
    next_cursor: str | None = Field(description="id of the last item on this page")


class Block(BaseModel):
    id: str
    label: str
    value: str
    limit: int
    description: str | None
    read_only: bool
    version: int


class AgentContext(BaseModel):
    """The agent's context window now (``GET /agents/{id}?context=true``)."""

    window: int | None = Field(description="tokens; null when the window is not managed")
    used: int = Field(description="tokens the next request uses before new input")
    counter: str
    in_context_messages: int
    evicted_messages: int
    summaries: int
    summary_steps: int
    passages: int


class Agent(BaseModel):
    id: str
    name: str
    system: str
    model: str
    model_settings: dict[str, Any]
    tools: list[str]
    tool_rules: list[dict[str, Any]]
    message_buffer_autoclear: bool
    metadata: dict[str, Any]
    tags: list[str] = Field(default_factory=list)
    archive: str | None = None
    blocks: list[Block]
    created_at: str | None
    updated_at: str | None = None
    context: AgentContext | None = None


class Tool(BaseModel):
    id: str | None = Field(description="null for built-in tools")
    name: str
    description: str
    parameters: dict[str, Any]
    source: str | None
    settings: dict[str, Any]
    created_at: str | None = None


class Usage(BaseModel):
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


class JobUsage(Usage):
    model_calls: int
    summary_steps: int = 0


class JobContext(BaseModel):
    window: int | None
    peak_tokens: int | None
    summary_steps: int
    evicted_messages: int
    notes: int


class RunContext(BaseModel):
    window: int | None
    peak_tokens: int | None
    summary_steps: int
    evicted_messages: int
    note: str | None


class Cost(BaseModel):
    usd: float
    live_usd: float
    batch_savings_usd: float
    cache_savings_usd: float
    unpriced_models: list[str]


class CallbackState(BaseModel):
    status: str | None = Field(description="pending, delivered or failed")
    attempts: int
    error: str | None


class JobSummary(BaseModel):
    id: str
    status: str
    max_steps: int
    request_count: int
    runs: dict[str, int] = Field(description="number of runs in each run status")
    outcomes: dict[str, int] = Field(
        default_factory=dict,
        description="finished runs by stop reason: final_reply, terminal_tool, end_turn, "
        "max_steps (ran out of steps before a final reply), error, cancelled",
    )
    metadata: dict[str, Any]
    callback_url: str | None
    callback: CallbackState | None
    error: str | None
    skipped_agents: int = Field(0, description="agents a selector matched but left out (busy)")
    schedule_id: str | None = Field(None, description="the schedule whose fire created it")
    deadline: str | None = Field(None, description="finish by this time (ISO 8601)")
    max_cost_usd: float | None = Field(None, description="stop sending before passing this")
    created_at: str | None
    started_at: str | None
    finished_at: str | None


class RouteUsage(Usage):
    usd: float
    requests: int = Field(0, description="requests sent this way (any outcome)")


class Routes(BaseModel):
    """Tokens and cost of the steps sent through the provider's batch API and through its
    live API (a deadline's late steps)."""

    batch: RouteUsage
    live: RouteUsage


class CacheUse(BaseModel):
    read_tokens: int
    write_tokens: int
    hit_ratio: float | None = Field(
        description="cache-read share of all input tokens (null before any)"
    )


class BudgetState(BaseModel):
    max_cost_usd: float
    spent_usd: float = Field(description="cost of the applied steps")
    committed_usd: float = Field(description="expected cost of requests still in flight")
    in_flight: int
    exhausted_runs: int = Field(description="runs stopped with `budget_exhausted`")


class Job(JobSummary):
    usage: JobUsage
    cost: Cost
    cache: CacheUse
    routes: Routes
    budget: BudgetState | None = None
    provider_batches: dict[str, int] = Field(description="provider batches by status")
    context: JobContext | None = None


class Run(BaseModel):
    id: str
    agent_id: str
    model: str
    status: str
    step: int
    attempt: int
    stop_reason: str | None
    reply: str | None
    last_error: str | None
    context: RunContext | None = None
    usage: Usage
    updated_at: str | None
    finished_at: str | None


class Message(BaseModel):
    id: int
    agent_id: str
    job_id: str | None = None
    run_id: str | None
    step: int | None
    role: str
    kind: str
    content: str | None
    reasoning: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool | None = None
    created_at: str | None


class Health(BaseModel):
    status: str
    version: str
    auth: bool


class RunResult(BaseModel):
    run_id: str
    agent_id: str
    agent_name: str
    model: str
    status: str
    stop_reason: str | None
    input: str | None
    reply: str | None
    error: str | None
    steps: int
    attempt: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    finished_at: str | None
