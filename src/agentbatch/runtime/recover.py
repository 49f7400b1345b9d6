"""Recover what a dead or stalled worker left: a provider batch stuck in ``submitting``
past its creator's lease is abandoned (its items cost an attempt and are sent again; the
cleanup pass looks for a create that happened but was never recorded), and items left
without a result in closed batches are settled."""

from __future__ import annotations

import logging

from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.settle import settle_unanswered, unanswered
from agentbatch.store import items, provider_batches

log = logging.getLogger(__name__)

INTERRUPTED = "submission was interrupted (its worker stopped before the provider confirmed it)"


async def recover_pass(ctx: RuntimeContext) -> int:
    now = ctx.clock()
    async with ctx.db.read() as conn:
        stale = await provider_batches.stale_submitting(conn, now)
        stranded = await items.stranded_batches(conn)
    for batch_id, fence in stale:

        async def abandon(conn: object, batch_id: str = batch_id, fence: int = fence) -> bool:
            return await provider_batches.abandon(
                conn,  # type: ignore[arg-type]
                batch_id,
                fence,
                error=INTERRUPTED,
                now=now,
            )

        if await ctx.db.transact(abandon):
            log.warning("provider batch %s abandoned: %s", batch_id, INTERRUPTED)
            ctx.observe.lease_lost("provider_batch")
            await settle_unanswered(ctx, batch_id, unanswered(INTERRUPTED))
    for batch_id in stranded:
        await settle_unanswered(
            ctx, batch_id, unanswered("the provider returned no result for this item")
        )
    return len(stale) + len(stranded)
