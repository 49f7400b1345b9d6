"""Tables beyond the core step cycle: saved agent selectors and schedules (issue 12),
block history (the dashboard's memory diffs) and archival passages. Same ``metadata`` as
``store.tables``, which re-exports them; the Alembic migrations create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, REAL

from agentbatch.store.tables import BIGID, ID, JSON, ORG, TS, metadata, runs

agent_selectors = Table(
    "agent_selectors",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ORG, nullable=False),
    Column("name", String(200), nullable=False),
    Column("spec", JSON(), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("org_id", "name", name="uq_agent_selectors_org_name"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", ID, primary_key=True),
    Column("org_id", ORG, nullable=False),
    Column("name", String(200), nullable=False),
    Column("cron", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("target", JSON(), nullable=False),  # which agents (ids, tags, selector)
    Column("job", JSON(), nullable=False),  # the job each fire creates
    Column("missed", String(16), nullable=False),  # 'skip' | 'run_once'
    Column("grace_s", Float, nullable=False),
    Column("status", String(16), nullable=False),  # 'active' | 'paused'
    Column("next_fire_at", TS),
    Column("last_fire_at", TS),
    Column("fence", Integer, nullable=False, server_default="0", default=0),
    Column("fires", Integer, nullable=False, server_default="0", default=0),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Index("ix_schedules_due", "status", "next_fire_at"),
    Index("ix_schedules_org", "org_id", "id"),
)

schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column("id", ID, primary_key=True),
    Column("schedule_id", ID, ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False),
    Column("org_id", ORG, nullable=False),
    Column("fire_at", TS, nullable=False),
    Column("job_id", ID),
    Column("selected", Integer, nullable=False),
    Column("skipped_busy", Integer, nullable=False),
    Column("missed", Integer, nullable=False),
    Column("error", Text),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("schedule_id", "fire_at", name="uq_schedule_fires_time"),
)

# every value a block held (one row per edit, written in the edit's transaction); no
# foreign key: the insert stays cheap on the apply path, and deleting a block deletes these
block_history = Table(
    "block_history",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("block_id", ID, nullable=False),
    Column("org_id", ORG, nullable=False),
    Column("version", Integer, nullable=False),
    Column("value", Text, nullable=False),
    # 'create' | 'api' | 'tool' | 'import' | 'baseline' (the value when history began)
    Column("source", String(16), nullable=False),
    Column("agent_id", ID),
    Column("run_id", ID),
    Column("step", Integer),
    Column("tool", String(64)),
    Column("created_at", TS, nullable=False),
    Index("ix_block_history_block", "block_id", "version"),
)

# the dashboard pages a job's runs by id (keyset): without it each page sorts the job's runs
Index("ix_runs_job_id", runs.c.job_id, runs.c.id)
# archival memory: passages searched by embedding, per archive (an agent's own, or shared)
passages = Table(
    "passages",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("org_id", ORG, nullable=False),
    Column("archive", String(120), nullable=False),
    Column("agent_id", ID),  # who inserted it
    Column("run_id", ID),
    Column("text", Text, nullable=False),
    Column("embedding_model", String(120), nullable=False),
    # float32 little-endian bytes (SQLite, sqlite-vec's format); real[] on PostgreSQL
    Column("embedding", LargeBinary().with_variant(ARRAY(REAL), "postgresql"), nullable=False),
    Column("created_at", TS, nullable=False),
    Index("ix_passages_archive", "org_id", "archive", "embedding_model", "id"),
)
