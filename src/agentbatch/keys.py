"""API keys: a random secret shown once, stored as its SHA-256 with a short display prefix.

A key looks like ``abk_<40 url-safe characters>`` (240 random bits), so a plain SHA-256 is
enough to store it: there is nothing to brute-force. Each key belongs to one organisation;
the HTTP API serves exactly that organisation's rows for it. Keys are never logged."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, or_, select, update

from agentbatch.errors import InvalidInput, NotFound
from agentbatch.ids import Clock, iso, new_id, utcnow
from agentbatch.store.db import Database
from agentbatch.store.tables import api_keys, organizations

log = logging.getLogger(__name__)

KEY_PREFIX = "abk_"
_DISPLAY_CHARS = 12  # "abk_" + 8 characters: enough to tell keys apart, useless to attack


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class MintedKey:
    id: str
    org_id: str
    name: str
    prefix: str
    secret: str  # shown once; only its hash is stored


def _key_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "org_id": row.org_id,
        "name": row.name,
        "prefix": row.prefix,
        "created_at": iso(row.created_at),
        "revoked_at": iso(row.revoked_at),
    }


async def create_key(
    db: Database, org_id: str, name: str = "", *, clock: Clock = utcnow
) -> MintedKey:
    """Mint a key for ``org_id`` (the organisation is created when it does not exist)."""
    if not org_id or len(org_id) > 64:
        raise InvalidInput("an organisation name must have 1 to 64 characters")
    secret = KEY_PREFIX + secrets.token_urlsafe(30)
    key = MintedKey(
        id=new_id("key"), org_id=org_id, name=name, prefix=secret[:_DISPLAY_CHARS], secret=secret
    )
    now = clock()
    async with db.write() as conn:
        found = await conn.execute(select(organizations.c.id).where(organizations.c.id == org_id))
        if found.first() is None:
            await conn.execute(insert(organizations).values(id=org_id, name=org_id, created_at=now))
        await conn.execute(
            insert(api_keys).values(
                id=key.id,
                org_id=org_id,
                key_hash=hash_key(secret),
                prefix=key.prefix,
                name=name,
                created_at=now,
            )
        )
    log.info("created API key %s (%s) for organisation %s", key.id, key.prefix, org_id)
    return key


async def verify_key(db: Database, secret: str) -> str | None:
    """The organisation of an active key, or None (unknown, malformed or revoked)."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(api_keys.c.org_id).where(
                    api_keys.c.key_hash == hash_key(secret), api_keys.c.revoked_at.is_(None)
                )
            )
        ).first()
    return None if row is None else str(row.org_id)


async def list_keys(db: Database, org_id: str | None = None) -> list[dict[str, Any]]:
    query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
    if org_id is not None:
        query = query.where(api_keys.c.org_id == org_id)
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [_key_out(r) for r in rows]


async def revoke_key(db: Database, ref: str, *, clock: Clock = utcnow) -> dict[str, Any]:
    """Revoke by key id or display prefix; revoking twice is harmless."""
    async with db.write() as conn:
        rows = (
            await conn.execute(
                select(api_keys).where(or_(api_keys.c.id == ref, api_keys.c.prefix == ref))
            )
        ).all()
        if not rows:
            raise NotFound(f"no API key with id or prefix {ref!r}")
        if len(rows) > 1:
            raise InvalidInput(f"{ref!r} matches {len(rows)} keys; use the key id")
        row = rows[0]
        if row.revoked_at is None:
            await conn.execute(
                update(api_keys).where(api_keys.c.id == row.id).values(revoked_at=clock())
            )
            log.info("revoked API key %s (%s)", row.id, row.prefix)
        updated = (await conn.execute(select(api_keys).where(api_keys.c.id == row.id))).one()
    return _key_out(updated)
