"""Driver-level bulk writes for the hot path.

SQLAlchemy Core's ``executemany`` builds and processes a parameter dict per row; at tens of
thousands of rows per second that overhead dominated the worker. These helpers build the
SQL once per (table, columns) and hand the driver plain tuples, converting JSON and
datetime values the way the column types would (so SQLAlchemy reads them back unchanged).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, DateTime, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch import jsonfast
from agentbatch.jsonfast import RawJSON
from agentbatch.store.db import count_statements

Converter = Callable[[Any], Any]


def _json(value: Any) -> Any:
    if value is None or isinstance(value, RawJSON):
        return value
    return jsonfast.dumps(value)


def _sqlite_datetime(value: Any) -> Any:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ", timespec="microseconds")


def _identity(value: Any) -> Any:
    return value


def _converter(table: Table, column: str, dialect: str) -> Converter:
    col_type = table.c[column].type
    if isinstance(col_type, JSON):
        return _json
    if isinstance(col_type, DateTime) and dialect == "sqlite":
        return _cached_datetime()
    return _identity


def _cached_datetime() -> Converter:
    """One pass writes the same ``now`` into thousands of rows: convert it once."""
    last: list[Any] = [None, None]

    def convert(value: datetime | None) -> Any:
        if value is last[0]:
            return last[1]
        out = _sqlite_datetime(value)
        last[0], last[1] = value, out
        return out

    return convert


def _placeholders(dialect: str, n: int, start: int = 1) -> list[str]:
    if dialect == "sqlite":
        return ["?"] * n
    return [f"${i}" for i in range(start, start + n)]


def _quote(name: str) -> str:
    return f'"{name}"'


@lru_cache(maxsize=128)
def _insert_sql(table: Table, columns: tuple[str, ...], dialect: str) -> str:
    cols = ", ".join(_quote(c) for c in columns)
    marks = ", ".join(_placeholders(dialect, len(columns)))
    return f"INSERT INTO {table.name} ({cols}) VALUES ({marks})"


@lru_cache(maxsize=128)
def _update_sql(table: Table, columns: tuple[str, ...], key: str, dialect: str) -> str:
    marks = _placeholders(dialect, len(columns) + 1)
    sets = ", ".join(f"{_quote(c)} = {m}" for c, m in zip(columns, marks, strict=False))
    return f"UPDATE {table.name} SET {sets} WHERE {_quote(key)} = {marks[-1]}"


def _tuples(
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[dict[str, Any]],
    dialect: str,
    tail: str | None = None,
) -> list[tuple[Any, ...]]:
    """Rows as driver tuples in column order (plus ``tail`` last), converting only the
    columns whose type needs it."""
    keys = (*columns, tail) if tail else columns
    getter = itemgetter(*keys)
    convs = [
        (i, conv)
        for i, c in enumerate(columns)
        if (conv := _converter(table, c, dialect)) is not _identity
    ]
    if len(keys) == 1:
        return (
            [(getter(row),) for row in rows]
            if not convs
            else [(convs[0][1](getter(row)),) for row in rows]
        )
    if not convs:
        return [getter(row) for row in rows]
    out = []
    for row in rows:
        values = list(getter(row))
        for i, conv in convs:
            values[i] = conv(values[i])
        out.append(tuple(values))
    return out


Op = tuple[str, list[tuple[Any, ...]]]  # (SQL, parameter rows) for executemany
Check = tuple[str, tuple[Any, ...], int]  # (SQL returning one count, its parameters, expected)


def insert_op(table: Table, rows: Sequence[dict[str, Any]], dialect: str) -> list[Op]:
    if not rows:
        return []
    columns = tuple(rows[0])
    params = _tuples(table, columns, rows, dialect)
    return [(_insert_sql(table, columns, dialect), params)]


def update_ops(
    table: Table,
    rows: Sequence[dict[str, Any]],
    dialect: str,
    key: str = "id",
    key_param: str = "b_id",
) -> list[Op]:
    """Rows carry ``key_param`` plus the columns to set; rows with other key sets are grouped."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(k for k in row if k != key_param), []).append(row)
    ops: list[Op] = []
    for columns, group in groups.items():
        params = _tuples(table, columns, group, dialect, tail=key_param)
        ops.append((_update_sql(table, columns, key, dialect), params))
    return ops


async def run_ops(conn: AsyncConnection, ops: Sequence[Op], checks: Sequence[Check] = ()) -> bool:
    """Run ``checks`` (SQL returning one count, its parameters, the expected count), then,
    if every count matched, every op; returns whether the ops ran.

    On SQLite the whole sequence runs as one call in the driver's thread: the event loop
    is free meanwhile (planning the next chunk), instead of resuming between statements.
    The surrounding transaction is SQLAlchemy's, on the same connection."""
    if conn.dialect.name != "sqlite":
        for sql, params, expected in checks:
            if (await conn.exec_driver_sql(sql, params)).scalar_one() != expected:
                return False
        for sql, rows in ops:
            if rows:
                await conn.exec_driver_sql(sql, rows)
        return True
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection  # aiosqlite.Connection

    def work(db: Any) -> bool:
        for sql, params, expected in checks:
            if db.execute(sql, params).fetchone()[0] != expected:
                return False
        for sql, rows in ops:
            if rows:
                db.executemany(sql, rows)
        return True

    assert driver is not None
    done: bool = await driver._execute(work, driver._conn)
    count_statements(conn.sync_engine, len(checks) + (len(ops) if done else 0))
    return done


Deferred = Callable[[set[Any]], Sequence[Op]]  # ops built from the keys a guard moved


def keep(rows: Sequence[tuple[Any, ...]], keys: Sequence[Any], moved: set[Any]) -> list[Any]:
    """The rows whose key a guard moved (``keys[i]`` is row i's key)."""
    if len(moved) >= len(set(keys)):
        return list(rows)
    return [row for row, key in zip(rows, keys, strict=True) if key in moved]


async def run_guarded(
    conn: AsyncConnection,
    guard: tuple[str, tuple[Any, ...]],
    ops: Sequence[Deferred],
    checks: Sequence[Check] = (),
) -> set[Any] | None:
    """A transition in one call: ``checks`` (None when one fails, nothing written), then
    ``guard`` (an ``UPDATE … RETURNING key`` that moves only the rows still in the state it
    names), then each deferred op built from the keys that moved. Returns those keys.

    On SQLite the sequence runs in the driver's thread as one call (see ``run_ops``)."""
    sql, params = guard
    if conn.dialect.name != "sqlite":
        for check_sql, check_params, expected in checks:
            if (await conn.exec_driver_sql(check_sql, check_params)).scalar_one() != expected:
                return None
        moved = {row[0] for row in (await conn.exec_driver_sql(sql, params)).all()}
        for build in ops:
            for op_sql, rows in build(moved):
                if rows:
                    await conn.exec_driver_sql(op_sql, rows)
        return moved
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection

    def work(db: Any) -> tuple[set[Any] | None, int]:
        for check_sql, check_params, expected in checks:
            if db.execute(check_sql, check_params).fetchone()[0] != expected:
                return None, len(checks)
        found = {row[0] for row in db.execute(sql, params).fetchall()}
        statements = len(checks) + 1
        for build in ops:
            for op_sql, rows in build(found):
                if rows:
                    db.executemany(op_sql, rows)
                    statements += 1
        return found, statements

    assert driver is not None
    result: tuple[set[Any] | None, int] = await driver._execute(work, driver._conn)
    count_statements(conn.sync_engine, result[1])
    return result[0]


def to_driver(table: Table, column: str, value: Any, dialect: str) -> Any:
    """One value converted as the bulk writes convert that column."""
    return _converter(table, column, dialect)(value)
