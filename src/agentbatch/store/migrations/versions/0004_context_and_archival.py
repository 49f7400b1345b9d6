"""context-window management (summary items, run counters) and archival memory (passages)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch_op:
        for name in ("summary_steps", "evicted_messages"):
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("context_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("context_window", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("context_note", sa.Text(), nullable=True))
    with op.batch_alter_table("batch_items") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("context", sa.JSON(), nullable=True))
    with op.batch_alter_table("agents") as batch_op:
        batch_op.add_column(sa.Column("archive", sa.String(length=100), nullable=True))
    op.create_table(
        "passages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("archive", sa.String(length=120), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedding_model", sa.String(length=120), nullable=False),
        sa.Column(
            "embedding",
            sa.LargeBinary().with_variant(postgresql.ARRAY(postgresql.REAL()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_passages_archive", "passages", ["org_id", "archive", "embedding_model", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_passages_archive", table_name="passages")
    op.drop_table("passages")
    with op.batch_alter_table("agents") as batch_op:
        batch_op.drop_column("archive")
    with op.batch_alter_table("batch_items") as batch_op:
        batch_op.drop_column("context")
        batch_op.drop_column("kind")
    with op.batch_alter_table("runs") as batch_op:
        for name in (
            "context_note",
            "context_window",
            "context_tokens",
            "evicted_messages",
            "summary_steps",
        ):
            batch_op.drop_column(name)
