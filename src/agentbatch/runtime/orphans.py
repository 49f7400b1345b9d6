"""Provider batches that carry our tag but that no row of ours knows: created by a create
whose answer was lost (the worker died or stalled, or the answer failed after the
provider had the batch). Providers with batch metadata match them exactly; the others
match by creation time and request count, so the answer is "not now" while another
worker's create of the same size may still be in flight (it would look the same)."""

from __future__ import annotations

import logging

from agentbatch.providers.base import BatchProvider, BatchTag, find_orphans, orphans_exact
from agentbatch.runtime.context import RuntimeContext
from agentbatch.store import batch_cleanup

log = logging.getLogger(__name__)


async def unknown_batches(
    ctx: RuntimeContext, provider: BatchProvider, tag: BatchTag
) -> list[str] | None:
    """Handles of unknown batches carrying ``tag``; None when it cannot be told yet."""
    found = await find_orphans(provider, tag)
    if not found:
        return []
    async with ctx.db.read() as conn:
        known = await batch_cleanup.known_handles(conn, provider.name, found)
        if not orphans_exact(provider):
            busy = await batch_cleanup.creates_in_flight(
                conn, provider.name, tag.requests, ctx.clock(), besides=tag.batch_id
            )
            if busy:
                log.info(
                    "%d create(s) of %d requests in flight at %s: orphan lookup of %s later",
                    busy,
                    tag.requests,
                    provider.name,
                    tag.batch_id,
                )
                return None
    return [h for h in found if h not in known]


async def cancel_quietly(provider: BatchProvider, handle: str) -> None:
    try:
        await provider.cancel(handle)
    except Exception as exc:  # the batch ends at the provider anyway; log and go on
        log.warning("could not cancel %s at %s: %s", handle, provider.name, exc)
