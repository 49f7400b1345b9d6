"""Agent selection: agents matched by id, tags and model, read in pages (keyset on id, so
100,000 agents never sit in memory at once), and the saved selectors of an org.

Tags live in ``agents.tags`` (a JSON list): SQLite matches them with ``json_each``,
PostgreSQL with ``jsonb`` containment (``@>`` for every tag, ``?|`` for any)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, cast, delete, exists, func, insert, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB, array
from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.store.tables import agent_selectors, agents

_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class Criteria:
    """What a selector asks for (all conditions hold)."""

    ids: tuple[str, ...] | None = None
    tags: tuple[str, ...] = ()
    any_tags: tuple[str, ...] = ()
    model: str | None = None

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Criteria:
        ids = spec.get("ids")
        return cls(
            tuple(dict.fromkeys(ids)) if ids is not None else None,
            tuple(spec.get("tags") or ()),
            tuple(spec.get("any_tags") or ()),
            spec.get("model"),
        )


@dataclass(frozen=True, slots=True)
class SelectedAgent:
    id: str
    name: str
    model: str
    metadata: dict[str, Any]
    tags: list[str]


def _has_tag(dialect: str, tag: str) -> Any:
    if dialect == "sqlite":
        each = func.json_each(agents.c.tags).table_valued("value")
        return exists(select(literal(1)).select_from(each).where(each.c.value == tag))
    return cast(agents.c.tags, JSONB).contains(cast(literal([tag], JSONB), JSONB))


def tag_conditions(dialect: str, tags: Sequence[str], any_tags: Sequence[str] = ()) -> list[Any]:
    """SQL conditions: the agent carries every tag of ``tags`` and one of ``any_tags``."""
    out = [_has_tag(dialect, t) for t in dict.fromkeys(tags)]
    if any_tags:
        if dialect == "sqlite":
            out.append(or_(*(_has_tag(dialect, t) for t in dict.fromkeys(any_tags))))
        else:
            out.append(cast(agents.c.tags, JSONB).has_any(array(list(dict.fromkeys(any_tags)))))
    return out


def _conditions(dialect: str, org_id: str, criteria: Criteria) -> list[Any]:
    conds = [agents.c.org_id == org_id, *tag_conditions(dialect, criteria.tags, criteria.any_tags)]
    if criteria.model is not None:
        conds.append(agents.c.model == criteria.model)
    return conds


async def agent_page(
    conn: AsyncConnection, org_id: str, criteria: Criteria, *, after: str | None, limit: int
) -> list[SelectedAgent]:
    """The next ``limit`` matching agents after id ``after`` (id order). A selector that
    names ids is read in id-list chunks."""
    conds = _conditions(conn.dialect.name, org_id, criteria)
    if criteria.ids is not None:
        ids = sorted(i for i in criteria.ids if after is None or i > after)[:limit]
        if not ids:
            return []
        conds.append(agents.c.id.in_(ids))
    elif after is not None:
        conds.append(agents.c.id > after)
    rows = await conn.execute(
        select(agents.c.id, agents.c.name, agents.c.model, agents.c.metadata, agents.c.tags)
        .where(and_(*conds))
        .order_by(agents.c.id)
        .limit(limit)
    )
    return [
        SelectedAgent(r.id, r.name, r.model, dict(r.metadata or {}), list(r.tags or []))
        for r in rows
    ]


async def count_matching(conn: AsyncConnection, org_id: str, criteria: Criteria) -> int:
    conds = _conditions(conn.dialect.name, org_id, criteria)
    if criteria.ids is None:
        query = select(func.count()).select_from(agents).where(and_(*conds))
        return int((await conn.execute(query)).scalar_one())
    total = 0
    ids = list(criteria.ids)
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(func.count())
            .select_from(agents)
            .where(and_(*conds, agents.c.id.in_(ids[start : start + _CHUNK])))
        )
        total += int((await conn.execute(query)).scalar_one())
    return total


# -- saved selectors ------------------------------------------------------------------------


async def selector_row(conn: AsyncConnection, org_id: str, name: str) -> Any:
    return (
        await conn.execute(
            select(agent_selectors).where(
                agent_selectors.c.org_id == org_id, agent_selectors.c.name == name
            )
        )
    ).first()


async def insert_selector(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(insert(agent_selectors).values(**row))


async def selector_rows(conn: AsyncConnection, org_id: str, limit: int) -> list[Any]:
    rows = await conn.execute(
        select(agent_selectors)
        .where(agent_selectors.c.org_id == org_id)
        .order_by(agent_selectors.c.name)
        .limit(limit)
    )
    return list(rows.all())


async def delete_selector(conn: AsyncConnection, org_id: str, name: str) -> bool:
    result = await conn.execute(
        delete(agent_selectors).where(
            agent_selectors.c.org_id == org_id, agent_selectors.c.name == name
        )
    )
    return bool(result.rowcount)


def selector_values(
    *, selector_id: str, org_id: str, name: str, spec: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "id": selector_id,
        "org_id": org_id,
        "name": name,
        "spec": spec,
        "created_at": now,
        "updated_at": now,
    }
