"""The async engine: SQLite (embedded default, WAL, one writer at a time via BEGIN IMMEDIATE)
or PostgreSQL through asyncpg. Counts SQL statements for the benchmark."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from agentbatch import jsonfast
from agentbatch.errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")

# engine -> its Database, so statements run below SQLAlchemy can still be counted
_BY_ENGINE: weakref.WeakKeyDictionary[Any, Database] = weakref.WeakKeyDictionary()


def count_statements(sync_engine: Any, n: int) -> None:
    """Count ``n`` statements that bypassed SQLAlchemy's cursor events."""
    db = _BY_ENGINE.get(sync_engine)
    if db is not None:
        db.statements += n


_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``sqlite:///`` and pick the async drivers."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def _load_sqlite_vec(dbapi_conn: Any) -> bool:
    """Load the sqlite-vec extension into a new connection, when both the package and
    this Python's sqlite3 (``enable_load_extension``) allow it."""
    try:
        import sqlite_vec
        from sqlalchemy.util import await_only

        raw = dbapi_conn._connection  # the aiosqlite connection
        await_only(raw.enable_load_extension(True))
        await_only(raw.load_extension(sqlite_vec.loadable_path()))
        await_only(raw.enable_load_extension(False))
    except Exception as exc:  # not installed, or a Python built without extension loading
        log.debug("sqlite-vec not loaded: %s", exc)
        return False
    return True


class Database:
    """One engine plus the two kinds of transaction the runtime uses."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        try:
            parsed = make_url(self.url)
        except Exception as exc:
            raise ConfigError(f"invalid database URL {url!r}: {exc}") from exc
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ConfigError(f"unsupported database {self.dialect!r}: use SQLite or PostgreSQL")
        self.statements = 0
        # archival search: sqlite-vec loaded into every SQLite connection / pgvector
        # installed in the PostgreSQL database (None: not known yet)
        self.vector_search: bool | None = None
        kwargs: dict[str, Any] = {
            "echo": echo,
            "json_serializer": jsonfast.dumps,
            "json_deserializer": jsonfast.loads,
        }
        if self.is_sqlite:
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 60}
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        _BY_ENGINE[self.engine.sync_engine] = self
        self._install_listeners()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _install_listeners(self) -> None:
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "before_cursor_execute")
        def _count(*_args: Any) -> None:
            self.statements += 1

        if not self.is_sqlite:
            return

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA cache_size=-65536")
            cur.close()
            loaded = _load_sqlite_vec(dbapi_conn)
            self.vector_search = (
                loaded if self.vector_search is None else (self.vector_search and loaded)
            )

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction (on SQLite it takes the write lock at BEGIN)."""
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = await conn.execution_options(sqlite_immediate=True)
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    async def transact(
        self, fn: Callable[[AsyncConnection], Awaitable[T]], *, attempts: int = 5
    ) -> T:
        """Run ``fn`` in a write transaction, retrying deadlocks/serialization failures."""
        for attempt in range(1, attempts + 1):
            try:
                async with self.write() as conn:
                    return await fn(conn)
            except DBAPIError as exc:
                code = getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(
                    getattr(exc, "orig", None), "pgcode", None
                )
                if code not in _RETRYABLE_SQLSTATES or attempt == attempts:
                    raise
                log.info("transaction conflict (%s), retrying", code)
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        async with self.read() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()
