"""``column IN (ids)`` with ONE bound parameter, for the hot paths.

SQLAlchemy expands ``column.in_(list)`` into one parameter per value at every execution;
with thousands of ids per chunk that renaming and processing cost more than the query.
SQLite gets the ids as one JSON text (``IN (SELECT value FROM json_each(?))``), PostgreSQL
as one array (``= ANY(?)``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, any_, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ColumnElement


def in_ids(column: Any, ids: Sequence[str], dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        matched: ColumnElement[bool] = column == any_(
            bindparam(None, list(ids), type_=ARRAY(String))
        )
        return matched
    values: Any = select(literal_column("value")).select_from(func.json_each(json.dumps(list(ids))))
    member: ColumnElement[bool] = column.in_(values)
    return member
