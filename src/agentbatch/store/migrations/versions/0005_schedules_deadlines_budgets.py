"""schedules, saved agent selectors, job deadlines and budgets, live provider batches

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("batch_jobs") as batch_op:
        batch_op.add_column(sa.Column("deadline_at", TS, nullable=True))
        batch_op.add_column(sa.Column("max_cost_usd", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("skipped_agents", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("schedule_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("provider_batches") as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=8), nullable=False, server_default="batch")
        )
        batch_op.create_index(
            "ix_provider_batches_turnaround", ["provider", "model", "kind", "status", "ended_at"]
        )
    with op.batch_alter_table("batch_items") as batch_op:
        batch_op.add_column(sa.Column("est_cost_usd", sa.Float(), nullable=True))
    op.create_table(
        "agent_selectors",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "name", name="uq_agent_selectors_org_name"),
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("cron", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("job", sa.JSON(), nullable=False),
        sa.Column("missed", sa.String(length=16), nullable=False),
        sa.Column("grace_s", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("next_fire_at", TS, nullable=True),
        sa.Column("last_fire_at", TS, nullable=True),
        sa.Column("fence", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("fires", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("schedules") as batch_op:
        batch_op.create_index("ix_schedules_due", ["status", "next_fire_at"])
        batch_op.create_index("ix_schedules_org", ["org_id", "id"])
    op.create_table(
        "schedule_fires",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("schedule_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("fire_at", TS, nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("selected", sa.Integer(), nullable=False),
        sa.Column("skipped_busy", sa.Integer(), nullable=False),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["schedule_id"], ["schedules.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "fire_at", name="uq_schedule_fires_time"),
    )


def downgrade() -> None:
    op.drop_table("schedule_fires")
    with op.batch_alter_table("schedules") as batch_op:
        batch_op.drop_index("ix_schedules_org")
        batch_op.drop_index("ix_schedules_due")
    op.drop_table("schedules")
    op.drop_table("agent_selectors")
    with op.batch_alter_table("batch_items") as batch_op:
        batch_op.drop_column("est_cost_usd")
    with op.batch_alter_table("provider_batches") as batch_op:
        batch_op.drop_index("ix_provider_batches_turnaround")
        batch_op.drop_column("kind")
    with op.batch_alter_table("batch_jobs") as batch_op:
        batch_op.drop_column("schedule_id")
        batch_op.drop_column("skipped_agents")
        batch_op.drop_column("max_cost_usd")
        batch_op.drop_column("deadline_at")
