"""Resolve what a user typed (whole id, unique id prefix, agent name) to one id."""

from __future__ import annotations

from agentbatch.errors import InvalidInput, NotFound
from agentbatch.store import lookup as repo
from agentbatch.store.db import Database

MIN_PREFIX = 4


async def resolve(db: Database, kind: str, org_id: str, ref: str) -> str:
    """The id of the ``kind`` (agent, job, block) that ``ref`` names, or a clear error:
    not found, or ambiguous with the candidates listed."""
    ref = ref.strip()
    if not ref:
        raise InvalidInput(f"give a {kind} id")
    async with db.read() as conn:
        ids = await repo.ids_matching(conn, kind, org_id, ref) if len(ref) >= MIN_PREFIX else []
        if ids == [ref]:
            return ref
        named = await repo.agents_named(conn, org_id, [ref]) if kind == "agent" else {}
    by_name = named.get(ref, [])
    if len(by_name) == 1 and not ids:
        return by_name[0]
    if len(ids) == 1 and not by_name:
        return ids[0]
    candidates = sorted(set(ids) | set(by_name))
    if candidates:
        raise InvalidInput(
            f"{ref!r} matches several {kind}s ({', '.join(candidates[:3])}"
            f"{', ...' if len(candidates) > 2 else ''}); give more of the id"
        )
    what = f"no {kind} has the id, id prefix{' or name' if kind == 'agent' else ''} {ref!r}"
    raise NotFound(what)
