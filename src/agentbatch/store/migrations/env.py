"""Alembic environment: migrations run on a connection handed in by agentbatch.store.migrate
(``config.attributes["connection"]``), or on ``sqlalchemy.url`` for the plain alembic CLI."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine

from agentbatch.store.tables import metadata

config = context.config


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url") or ""
    url = url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
