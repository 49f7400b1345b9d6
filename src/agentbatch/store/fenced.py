"""Set-based fenced transitions: one ``UPDATE … FROM (values) … RETURNING id`` that moves
only the rows still in the state the writer names, and says which moved.

Each row of ``values`` is ``(id, fence, *extra)``; the statement matches ``table.id`` and
``table.fence`` against it plus the ``where`` condition, sets ``set_sql`` (which may refer
to the extra values as ``v.x0``, ``v.x1``, …) and returns the ids of the rows it moved.
SQLite gets the values as one JSON parameter (``json_each``), PostgreSQL as arrays
(``unnest``): one bound parameter per column whatever the row count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentbatch import jsonfast

Statement = tuple[str, tuple[Any, ...]]


def fenced_update(
    dialect: str,
    table: str,
    *,
    set_sql: str,
    where_sql: str,
    values: Sequence[tuple[Any, ...]],
    extra_types: Sequence[str] = (),
    params: Sequence[Any] = (),
) -> Statement:
    """The statement and its parameters. ``set_sql`` and ``where_sql`` use ``:p0``, ``:p1``…
    for ``params`` (rendered as the dialect's placeholders)."""
    n_extra = len(extra_types)
    if dialect == "sqlite":
        cols = ", ".join(
            [
                "json_extract(value, '$[0]') AS rid",
                "json_extract(value, '$[1]') AS rfence",
                *(f"json_extract(value, '$[{i + 2}]') AS x{i}" for i in range(n_extra)),
            ]
        )
        source = f"(SELECT {cols} FROM json_each(?)) AS v"
        marks = ["?"] * len(params)
        rendered_set, rendered_where = _render(set_sql, marks), _render(where_sql, marks)
        # SQLite numbers parameters by position in the text: SET, FROM, WHERE
        ordered = (
            *_used(set_sql, params),
            jsonfast.dumps([list(v) for v in values]),
            *_used(where_sql, params),
        )
    else:
        first = len(params) + 1
        arrays = [f"${first}::varchar[]", f"${first + 1}::int[]"]
        arrays += [f"${first + 2 + i}::{t}[]" for i, t in enumerate(extra_types)]
        names = ", ".join(["rid", "rfence", *(f"x{i}" for i in range(n_extra))])
        source = f"unnest({', '.join(arrays)}) AS v({names})"
        marks = [f"${i + 1}" for i in range(len(params))]
        rendered_set, rendered_where = _render(set_sql, marks), _render(where_sql, marks)
        columns = list(zip(*values, strict=True)) if values else [()] * (2 + n_extra)
        ordered = (*params, *(list(c) for c in columns))
    sql = (
        f"UPDATE {table} SET {rendered_set} FROM {source} "
        f"WHERE {table}.id = v.rid AND {table}.fence = v.rfence AND {rendered_where} "
        f"RETURNING {table}.id"
    )
    return sql, tuple(ordered)


def _render(text: str, marks: Sequence[str]) -> str:
    for i in reversed(range(len(marks))):  # :p10 before :p1
        text = text.replace(f":p{i}", marks[i])
    return text


def _used(text: str, params: Sequence[Any]) -> list[Any]:
    """The parameters ``text`` names, in the order they appear (SQLite's ``?``)."""
    found = []
    for i in range(len(params)):
        pos = text.find(f":p{i}")
        while pos != -1:
            nxt = text[pos + 2 + len(str(i)) : pos + 3 + len(str(i))]
            if not nxt.isdigit():
                found.append((pos, i))
            pos = text.find(f":p{i}", pos + 1)
    return [params[i] for _, i in sorted(found)]
