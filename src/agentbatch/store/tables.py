"""Table definitions (SQLAlchemy Core). The Alembic migrations create exactly these.

Every row carries ``org_id`` so that one organisation never sees another's data. Messages
use an integer primary key: within an agent, ``id`` order is history order.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import JSON as _JSON

metadata = MetaData()


def JSON() -> _JSON:
    """JSON that stores Python None as SQL NULL (not the text 'null')."""
    return _JSON(none_as_null=True)


TS = DateTime(timezone=True)
ID = String(64)
ORG = String(64)
BIGID = BigInteger().with_variant(Integer, "sqlite")

organizations = Table(
    "organizations",
    metadata,
    Column("id", ORG, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ORG, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("key_hash", String(128), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
)

agents = Table(
    "agents",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ORG, nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("system", Text, nullable=False),
    Column("model", String(200), nullable=False),
    Column("model_settings", JSON(), nullable=False),
    Column("tool_names", JSON(), nullable=False),
    Column("tool_rules", JSON(), nullable=False),
    Column("message_buffer_autoclear", Boolean, nullable=False, default=False),
    Column("metadata", JSON(), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("tags", JSON(), nullable=False, server_default="[]", default=list),
    # archival memory shared under this name (within the organisation); NULL: its own
    Column("archive", String(100)),
)

blocks = Table(
    "blocks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ORG, nullable=False, index=True),
    Column("label", String(100), nullable=False),
    Column("value", Text, nullable=False),
    Column("limit", Integer, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("read_only", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

agent_blocks = Table(
    "agent_blocks",
    metadata,
    Column("agent_id", ID, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("block_id", ID, ForeignKey("blocks.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, nullable=False),
    Index("ix_agent_blocks_block", "block_id"),
)

tools = Table(
    "tools",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ORG, nullable=False),
    Column("name", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("parameters", JSON(), nullable=False),
    Column("source", Text, nullable=False),
    Column("settings", JSON(), nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("org_id", "name", name="uq_tools_org_name"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("org_id", ORG, nullable=False),
    Column("agent_id", ID, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("job_id", ID),
    Column("run_id", ID),
    Column("step", Integer),
    Column("role", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("content", Text),
    Column("reasoning", Text),
    Column("reasoning_signature", Text),
    Column("tool_calls", JSON()),
    Column("tool_call_id", String(128)),
    Column("name", String(64)),
    Column("is_error", Boolean, nullable=False, default=False),
    Column("in_context", Boolean, nullable=False, default=True),
    Column("created_at", TS, nullable=False),
    Index("ix_messages_agent_context", "agent_id", "in_context", "id"),
    Index("ix_messages_job", "job_id", "id"),
)

batch_jobs = Table(
    "batch_jobs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ORG, nullable=False),
    Column("status", String(16), nullable=False),
    Column("max_steps", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("options", JSON(), nullable=False),
    Column("metadata", JSON(), nullable=False),
    Column("callback_url", Text),
    Column("callback_status", String(16)),
    Column("callback_attempts", Integer, nullable=False, default=0),
    Column("callback_next_at", TS),
    Column("callback_error", Text),
    Column("request_count", Integer, nullable=False),
    Column("error", Text),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("started_at", TS),
    Column("finished_at", TS),
    Index("ix_batch_jobs_org_status", "org_id", "status", "id"),
    # schedules, deadlines and budgets (migration 0003)
    Column("deadline_at", TS),
    Column("max_cost_usd", Float),
    Column("skipped_agents", Integer, nullable=False, server_default="0", default=0),
    Column("schedule_id", ID),
)

runs = Table(
    "runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("job_id", ID, ForeignKey("batch_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("agent_id", ID, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("org_id", ORG, nullable=False),
    Column("model", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("step", Integer, nullable=False, default=0),
    Column("solver_state", JSON()),
    Column("pending_messages", JSON()),
    Column("attempt", Integer, nullable=False, default=1),
    Column("current_item_id", ID),
    Column("last_error", Text),
    Column("stop_reason", String(32)),
    Column("reply", Text),
    Column("input_tokens", BIGID, nullable=False, default=0),
    Column("output_tokens", BIGID, nullable=False, default=0),
    Column("cache_read_tokens", BIGID, nullable=False, default=0),
    Column("cache_write_tokens", BIGID, nullable=False, default=0),
    Column("cost_usd", JSON()),
    Column("not_before", TS, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_expires", TS),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("finished_at", TS),
    # grows with every claim: a writer names the value it claimed with (fencing token)
    Column("fence", Integer, nullable=False, server_default="0", default=0),
    Column("error_kind", String(32)),
    # how often this step's out-of-transaction tools were started (a crash loop stops)
    Column("tool_attempts", Integer, nullable=False, server_default="0", default=0),
    # context-window management: summary steps taken, messages evicted, the largest
    # request counted (tokens) against the window, and the last eviction note
    Column("summary_steps", Integer, nullable=False, server_default="0", default=0),
    Column("evicted_messages", Integer, nullable=False, server_default="0", default=0),
    Column("context_tokens", Integer),
    Column("context_window", Integer),
    Column("context_note", Text),
    Index("ix_runs_job_status", "job_id", "status"),
    Index("ix_runs_agent", "agent_id"),
)

provider_batches = Table(
    "provider_batches",
    metadata,
    Column("id", ID, primary_key=True),
    Column("job_id", ID, ForeignKey("batch_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("model", String(200), nullable=False),
    Column("external_id", String(200)),
    Column("status", String(16), nullable=False),
    Column("provider_status", String(32)),
    Column("request_count", Integer, nullable=False, default=0),
    Column("payload_bytes", BIGID, nullable=False, default=0),
    Column("poll_count", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("lease_owner", String(64)),
    Column("lease_expires", TS),
    Column("next_poll_at", TS),
    Column("created_at", TS, nullable=False),
    Column("submitted_at", TS),
    Column("polled_at", TS),
    Column("ended_at", TS),
    Column("fence", Integer, nullable=False, server_default="0", default=0),
    # provider-side work left after our status settled: 'lookup' (find a batch whose create
    # was never recorded), 'pending' (cancel / follow to its end, delete its files), 'done'
    Column("cleanup", String(16)),
    Index("ix_provider_batches_status", "status", "next_poll_at"),
    Index("ix_provider_batches_job", "job_id"),
    Index("ix_provider_batches_cleanup", "cleanup", "next_poll_at"),
    # 'batch' (the provider's batch API) or 'live' (answered through its live API)
    Column("kind", String(8), nullable=False, server_default="batch", default="batch"),
    Index("ix_provider_batches_turnaround", "provider", "model", "kind", "status", "ended_at"),
)


batch_items = Table(
    "batch_items",
    metadata,
    Column("id", ID, primary_key=True),  # the custom_id sent to the provider
    Column("provider_batch_id", ID, ForeignKey("provider_batches.id", ondelete="CASCADE")),
    Column("job_id", ID, nullable=False),
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(16)),
    Column("result", JSON()),
    Column("error", Text),
    Column("applied", Boolean, nullable=False, default=False),
    Column("created_at", TS, nullable=False),
    Column("applied_at", TS),
    # NULL: an agent step; 'summary': a summary step (``context`` says what it folds)
    Column("kind", String(16)),
    Column("context", JSON()),
    Index("ix_batch_items_batch", "provider_batch_id", "applied"),
    Index("ix_batch_items_run", "run_id"),
    Column("est_cost_usd", Float),  # what the budget check expected it to cost
)


# the rest of the schema lives beside this module; imported here so that ``metadata`` and
# ``from agentbatch.store.tables import …`` see every table
from agentbatch.store.more_tables import (  # noqa: E402
    agent_selectors,
    block_history,
    passages,
    schedule_fires,
    schedules,
)

__all__ = [
    "agent_blocks",
    "agent_selectors",
    "agents",
    "api_keys",
    "batch_items",
    "batch_jobs",
    "block_history",
    "blocks",
    "messages",
    "metadata",
    "organizations",
    "passages",
    "provider_batches",
    "runs",
    "schedule_fires",
    "schedules",
    "tools",
]
