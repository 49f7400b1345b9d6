"""Saved agent selectors: a name for a set of agents (ids, tags, model) that jobs and
schedules address, so a 100,000-agent job needs no 100,000-line file."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from agentbatch.errors import Conflict, NotFound
from agentbatch.ids import Clock, iso, new_id, utcnow
from agentbatch.schemas import SelectorCreate
from agentbatch.services.agents import parse_model
from agentbatch.store import selection
from agentbatch.store.db import Database
from agentbatch.store.selection import Criteria


def selector_spec(agents: Any) -> dict[str, Any]:
    """The stored form of an ``AgentSelector`` (only the conditions given)."""
    data = agents.model_dump(exclude_none=True)
    return {k: v for k, v in data.items() if v not in ([], None)}


def _out(row: Any, matching: int | None = None) -> dict[str, Any]:
    out = {
        "id": row.id,
        "name": row.name,
        "agents": dict(row.spec),
        "created_at": iso(row.created_at),
    }
    if matching is not None:
        out["matching_agents"] = matching
    return out


class SelectorService:
    def __init__(self, db: Database, clock: Clock = utcnow) -> None:
        self.db = db
        self.clock = clock

    async def create_selector(
        self, org_id: str, data: SelectorCreate | dict[str, Any]
    ) -> dict[str, Any]:
        spec: SelectorCreate = parse_model(SelectorCreate, data)
        row = selection.selector_values(
            selector_id=new_id("sel"),
            org_id=org_id,
            name=spec.name,
            spec=selector_spec(spec.agents),
            now=self.clock(),
        )
        try:
            async with self.db.write() as conn:
                if await selection.selector_row(conn, org_id, spec.name) is not None:
                    raise Conflict(f"a selector named {spec.name!r} already exists")
                await selection.insert_selector(conn, row)
        except IntegrityError:  # a concurrent create of the same name
            raise Conflict(f"a selector named {spec.name!r} already exists") from None
        return await self.get_selector(org_id, spec.name)

    async def get_selector(self, org_id: str, name: str) -> dict[str, Any]:
        """The selector and how many agents match it now."""
        async with self.db.read() as conn:
            row = await selection.selector_row(conn, org_id, name)
            if row is None:
                raise NotFound(f"selector {name!r} not found")
            matching = await selection.count_matching(
                conn, org_id, Criteria.from_spec(dict(row.spec))
            )
        return _out(row, matching)

    async def list_selectors(self, org_id: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            rows = await selection.selector_rows(conn, org_id, limit)
        return [_out(r) for r in rows]

    async def delete_selector(self, org_id: str, name: str) -> None:
        async with self.db.write() as conn:
            if not await selection.delete_selector(conn, org_id, name):
                raise NotFound(f"selector {name!r} not found")
