"""Fill provider batches from prepared chunks and send them.

Each prepared chunk is recorded in its own transaction (the batch row with the first
chunk, then items, input messages and run states: ``store.submissions``) in the
background while the next chunk is prepared; records commit in order. A full batch is
sent once all its chunks are recorded, with the entries of exactly the runs that were
recorded: a run that moved on meanwhile (cancelled, claimed by another worker) is not
sent. If the batch row itself is no longer this worker's, the rest is given up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agentbatch.ids import new_id
from agentbatch.providers.base import BatchProvider
from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.submit.send import OutgoingBatch, send_batch
from agentbatch.runtime.submit.split import BatchSplitter, Prepared
from agentbatch.store.submissions import RecordedItem, record_chunk


@dataclass
class _Open:
    """A provider batch being filled: its requests and which of their runs were recorded."""

    batch_id: str
    created_at: datetime
    prepared: list[Prepared] = field(default_factory=list)
    recorded: set[str] = field(default_factory=set)
    lost: bool = False
    chunks: int = 0
    row_created: bool = False  # a chunk that recorded runs created the batch row


class BatchSender:
    def __init__(
        self,
        ctx: RuntimeContext,
        job_id: str,
        model: str,
        model_name: str,
        provider: BatchProvider,
        cap: int,
    ) -> None:
        self.ctx, self.job_id, self.model, self.model_name = ctx, job_id, model, model_name
        self.provider = provider
        self.splitter = BatchSplitter(cap, provider.limits.max_bytes)
        self.current: _Open | None = None
        self.closed: list[tuple[_Open, asyncio.Task[None] | None]] = []
        self.recording: asyncio.Task[None] | None = None

    @property
    def recorded(self) -> set[str]:
        """Run ids recorded so far (all batches of this group)."""
        out = set(self.current.recorded) if self.current else set()
        for batch, _ in self.closed:
            out |= batch.recorded
        return out

    @property
    def lost(self) -> bool:
        """Whether a batch of this group was taken from this worker (stop claiming more)."""
        return any(b.lost for b, _ in self.closed) or bool(self.current and self.current.lost)

    def add(self, prepared: list[Prepared]) -> None:
        pending: list[Prepared] = []
        for item in prepared:
            if self.splitter.starts_new_batch(item.size) and self.current is not None:
                self._record(pending)
                pending = []
                self._close()
            if self.current is None:
                self.current = _Open(new_id("pbatch"), self.ctx.clock())
            pending.append(item)
            self.current.prepared.append(item)
        self._record(pending)

    def _record(self, chunk: list[Prepared]) -> None:
        if not chunk or self.current is None:
            return
        batch = self.current
        batch.chunks += 1
        self.recording = asyncio.create_task(self._record_chunk(batch, chunk, self.recording))

    async def _record_chunk(
        self,
        batch: _Open,
        chunk: list[Prepared],
        previous: asyncio.Task[None] | None,
    ) -> None:
        if previous is not None:
            await previous  # records commit in order
        if batch.lost:
            return
        first = not batch.row_created
        ctx = self.ctx
        now = ctx.clock()
        items = [
            RecordedItem(
                p.run_id,
                p.run_fence,
                p.item_id,
                p.step,
                p.attempt,
                p.size,
                p.new_messages,
                p.kind,
                p.context,
                p.est_cost,
            )
            for p in chunk
        ]

        async def txn(conn: Any) -> set[str] | None:
            return await record_chunk(
                conn,
                batch_id=batch.batch_id,
                job_id=self.job_id,
                provider=self.provider.name,
                model=self.model,
                owner=ctx.owner,
                now=now if not first else batch.created_at,
                until=ctx.lease_until(now),
                chunk=items,
                first=first,
            )

        moved = await ctx.db.transact(txn)
        if moved is None:
            batch.lost = True
            ctx.observe.lease_lost("provider_batch")
        else:
            batch.recorded |= moved
            batch.row_created |= bool(moved)

    def _close(self) -> None:
        if self.current is not None and self.current.prepared:
            self.closed.append((self.current, self.recording))
        self.current = None

    async def close(self) -> None:
        self._close()
        for batch, recorded in self.closed:
            if recorded is not None:
                await recorded
            if batch.lost or not batch.recorded:
                continue  # nothing recorded, or it belongs to whoever moved the batch
            entries = [p.entry for p in batch.prepared if p.run_id in batch.recorded]
            outgoing = OutgoingBatch(
                batch.batch_id,
                1,
                self.job_id,
                self.model,
                self.model_name,
                batch.created_at,
                entries,
            )
            await send_batch(self.ctx, self.provider, outgoing)
        if self.recording is not None:
            await self.recording
