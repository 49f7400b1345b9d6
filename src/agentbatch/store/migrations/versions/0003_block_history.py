"""block history (one row per value a memory block took); runs indexed by (job, id)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "block_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("block_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("tool", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_block_history_block", "block_history", ["block_id", "version"])
    # the dashboard pages a job's runs by id; maintained only when runs are inserted
    op.create_index("ix_runs_job_id", "runs", ["job_id", "id"])
    # what each block holds now is its first recorded version: the next edit has a base
    op.execute(
        "INSERT INTO block_history (block_id, org_id, version, value, source, created_at) "
        "SELECT id, org_id, version, value, 'baseline', updated_at FROM blocks"
    )


def downgrade() -> None:
    op.drop_index("ix_runs_job_id", table_name="runs")
    op.drop_index("ix_block_history_block", table_name="block_history")
    op.drop_table("block_history")
