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
    if len(by_name) > 1:
        raise InvalidInput(
            f"{len(by_name)} agents are named {ref!r} ({_listed(by_name)}); give the id "
            f"(`agentbatch agents list --name {ref}` lists them)"
        )
    if candidates:
        raise InvalidInput(
            f"{ref!r} matches several {kind}s ({_listed(candidates)}); give more of the id"
        )
    what = "the id, id prefix or name" if kind == "agent" else "the id or id prefix"
    raise NotFound(f"no {kind} has {what} {ref!r}")


def _listed(ids: list[str]) -> str:
    return ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")


async def resolve_agent_in_job(db: Database, org_id: str, job_id: str, ref: str) -> str:
    """An agent of this job first: a name or prefix shared with agents outside the job
    still names the one agent that ran in it; otherwise as :func:`resolve`."""
    ref = ref.strip()
    if ref:
        async with db.read() as conn:
            ids = (
                await repo.ids_matching(conn, "agent", org_id, ref, limit=1000)
                if len(ref) >= MIN_PREFIX
                else []
            )
            named = (await repo.agents_named(conn, org_id, [ref])).get(ref, [])
            in_job = await repo.agents_in_job(conn, job_id, [*ids, *named])
        if len(in_job) == 1:
            return in_job[0]
    return await resolve(db, "agent", org_id, ref)


async def names_in_use(db: Database, org_id: str, names: list[str]) -> dict[str, list[str]]:
    """name -> ids of the organisation's agents already called that."""
    async with db.read() as conn:
        return await repo.agents_named(conn, org_id, names)
