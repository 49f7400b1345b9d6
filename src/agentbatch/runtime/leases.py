"""Keep a lease alive while a worker waits on something slow (a provider create that is
rate-limited or retried, a tool call): renewed every third of the lease, so another
worker's recovery never takes over work whose worker is alive. If a renewal finds the
lease taken over (its fence moved), ``lost`` is set and renewing stops: the holder's own
guarded transitions will then refuse its writes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentbatch.runtime.context import RuntimeContext

log = logging.getLogger(__name__)

Renew = Callable[[Any, datetime], Awaitable[bool]]  # (connection, new expiry) -> still held


class LeaseKeeper:
    def __init__(self, ctx: RuntimeContext, what: str, renew: Renew) -> None:
        self.ctx, self.what, self.renew = ctx, what, renew
        self.lost = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LeaseKeeper:
        self._task = asyncio.create_task(self._keep(), name=f"lease {self.what}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _renew(self, conn: Any) -> bool:
        return await self.renew(conn, self.ctx.lease_until())

    async def _keep(self) -> None:
        interval = max(self.ctx.settings.lease_s / 3, 0.01)
        while True:
            await self.ctx.lease_sleep(interval)
            try:
                held = await self.ctx.db.transact(self._renew)
            except Exception as exc:  # the database hiccuped: try again next interval
                log.warning("could not renew the lease of %s: %s", self.what, exc)
                continue
            if not held:
                log.warning("lease of %s was taken over; its work will be given up", self.what)
                self.lost = True
                self.ctx.observe.lease_lost(
                    "provider_batch" if self.what.startswith("provider batch") else "run"
                )
                return
