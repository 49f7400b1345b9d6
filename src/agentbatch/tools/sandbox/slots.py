"""Per-organisation call slots of the sandbox pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class OrgSlots:
    """At most ``limit`` calls of one organisation at once (None: no limit); the
    semaphore of an organisation with no call waiting or running is dropped."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._slots: dict[str | None, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, org_id: str | None) -> AsyncIterator[None]:
        if self.limit is None:
            yield
            return
        semaphore, users = self._slots.get(org_id) or (asyncio.Semaphore(self.limit), 0)
        self._slots[org_id] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._slots[org_id]
            if users <= 1:
                del self._slots[org_id]
            else:
                self._slots[org_id] = (semaphore, users - 1)
