"""The Alembic migrations create exactly the tables of ``store.tables`` (SQLite and
PostgreSQL), and every migration downgrades and upgrades again."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from agentbatch.store import migrate
from agentbatch.store.db import Database
from agentbatch.store.tables import metadata


def _differences(sync_conn: Any) -> list[Any]:
    context = MigrationContext.configure(sync_conn, opts={"compare_type": False})
    diffs = compare_metadata(context, metadata)
    # server defaults and index name spellings are not compared; tables and columns are
    return [
        d for d in diffs if d[0] in ("add_table", "remove_table", "add_column", "remove_column")
    ]


async def test_migrations_match_the_tables_and_go_both_ways(database_url: str) -> None:
    db = Database(database_url)
    try:
        await migrate.upgrade(db)
        async with db.read() as conn:
            assert await conn.run_sync(_differences) == []
        await migrate.downgrade(db, "0001")
        assert await migrate.current_revision(db) == "0001"
        await migrate.upgrade(db)
        assert await migrate.current_revision(db) == migrate.head_revision()
        async with db.read() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await db.dispose()
