"""fencing tokens, provider-side cleanup, run error kinds and tool attempts, agent tags

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch_op:
        batch_op.add_column(sa.Column("fence", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("error_kind", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("tool_attempts", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("provider_batches") as batch_op:
        batch_op.add_column(sa.Column("fence", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("cleanup", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_provider_batches_cleanup", ["cleanup", "next_poll_at"])
    with op.batch_alter_table("agents") as batch_op:
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch_op:
        batch_op.drop_column("tags")
    with op.batch_alter_table("provider_batches") as batch_op:
        batch_op.drop_index("ix_provider_batches_cleanup")
        batch_op.drop_column("cleanup")
        batch_op.drop_column("fence")
    with op.batch_alter_table("runs") as batch_op:
        batch_op.drop_column("tool_attempts")
        batch_op.drop_column("error_kind")
        batch_op.drop_column("fence")
