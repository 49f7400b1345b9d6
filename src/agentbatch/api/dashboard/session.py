"""Dashboard login: the user pastes an API key once; the browser then holds a session
cookie derived from it, never the key itself.

The cookie is ``<key id>.<expiry>.<signature>``, the signature an HMAC of the key id and
expiry under the key's stored hash, so any server sharing the database can check it
(no server secret to distribute), it stops working when the key is revoked or the expiry
passes, and it reveals nothing that opens the JSON API. It is ``HttpOnly`` and
``SameSite=Strict`` (no other site can send it), ``Secure`` over HTTPS."""

from __future__ import annotations

import hashlib
import hmac
import time

from sqlalchemy import select

from agentbatch.keys import KEY_PREFIX, hash_key
from agentbatch.store.db import Database
from agentbatch.store.tables import api_keys

COOKIE = "agentbatch_session"
LIFETIME_S = 12 * 3600


def _sign(key_hash: str, key_id: str, expires: int) -> str:
    message = f"agentbatch-dashboard:{key_id}:{expires}".encode()
    return hmac.new(key_hash.encode(), message, hashlib.sha256).hexdigest()


async def login(db: Database, secret: str, now: float | None = None) -> str | None:
    """A session cookie value for an active key, or None."""
    secret = secret.strip()
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(api_keys.c.id, api_keys.c.key_hash).where(
                    api_keys.c.key_hash == hash_key(secret), api_keys.c.revoked_at.is_(None)
                )
            )
        ).first()
    if row is None:
        return None
    expires = int((now if now is not None else time.time()) + LIFETIME_S)
    return f"{row.id}.{expires}.{_sign(row.key_hash, row.id, expires)}"


async def org_of(db: Database, cookie: str | None, now: float | None = None) -> str | None:
    """The organisation of a valid, unexpired session whose key is still active."""
    if not cookie or len(cookie) > 300 or cookie.count(".") != 2:
        return None
    key_id, expires_raw, signature = cookie.split(".")
    if not expires_raw.isdigit() or int(expires_raw) < (now if now is not None else time.time()):
        return None
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(api_keys.c.org_id, api_keys.c.key_hash).where(
                    api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)
                )
            )
        ).first()
    if row is None:
        return None
    expected = _sign(row.key_hash, key_id, int(expires_raw))
    return str(row.org_id) if hmac.compare_digest(expected, signature) else None
