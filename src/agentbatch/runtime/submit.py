"""Prepare and submit: queued runs become requests in provider batches.

Queued runs accumulate until a group (job, model) fills a batch or its oldest run has
waited ``send_delay_s``. A group is claimed with a lease, prepared in chunks (bulk reads,
pure request assembly), split at the provider's request-count and payload-byte limits
(measured on the encoded provider payload), then each batch is recorded (one transaction:
batch, items, input messages, run states) before the provider call.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from agentbatch.domain.agents import split_handle
from agentbatch.domain.messages import Message
from agentbatch.domain.statuses import BatchStatus, RunStatus
from agentbatch.errors import AgentBatchError, ProviderError
from agentbatch.ids import as_utc, new_id
from agentbatch.providers.base import BatchProvider, BatchTag
from agentbatch.runtime.catalog import catalog_for
from agentbatch.runtime.context import RuntimeContext, poll_delay
from agentbatch.runtime.retry import with_retries
from agentbatch.runtime.rows import message_row
from agentbatch.runtime.settle import fail_runs, settle_batch_items
from agentbatch.step.memory import MemoryRenderer
from agentbatch.step.prepare import ToolCatalog, build_request
from agentbatch.step.solver import RuleSet, SolverState
from agentbatch.store import runtime_repo as rr
from agentbatch.store import tables
from agentbatch.store.bulk import insert_op, run_ops, update_ops

log = logging.getLogger(__name__)


UNLIMITED_BYTES = 1 << 40


def _payload_size(entry: dict[str, Any]) -> int:
    """Bytes the entry adds to the provider payload (one JSON line)."""
    return len(json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode()) + 1


@dataclass(slots=True)
class Prepared:
    run_id: str
    item_id: str
    step: int
    attempt: int
    entry: dict[str, Any]
    size: int
    new_messages: list[dict[str, Any]]


async def submit_pass(ctx: RuntimeContext) -> int:
    now = ctx.clock()
    async with ctx.db.read() as conn:
        groups = await rr.ready_groups(conn, now)
    submitted = 0
    delay = timedelta(seconds=ctx.settings.send_delay_s)
    for group in groups:
        oldest = as_utc(group.oldest)
        if (
            group.n < ctx.settings.max_batch_requests
            and oldest is not None
            and oldest > now - delay
        ):
            continue  # let the batch fill a little longer
        with ctx.metrics.phase("prepare+submit", ctx.db) as stats:
            n = await submit_group(ctx, group.job_id, group.model)
            stats.items += n
        submitted += n
    return submitted


async def submit_group(ctx: RuntimeContext, job_id: str, model: str) -> int:
    provider_name, model_name = split_handle(model)
    now = ctx.clock()
    try:
        provider = ctx.registry.get(provider_name)
    except AgentBatchError as exc:
        claimed = await _claim(ctx, job_id, model, ctx.settings.max_batch_requests)
        await fail_runs(
            ctx, [r.id for r in claimed], f"provider {provider_name!r} unavailable: {exc}"
        )
        return len(claimed)
    cap = max(1, min(provider.limits.max_requests, ctx.settings.max_batch_requests))
    claimed = await _claim(ctx, job_id, model, cap)
    if not claimed:
        return 0
    sender = _BatchSender(ctx, job_id, model, model_name, provider, cap)
    try:
        for start in range(0, len(claimed), ctx.settings.chunk_size):
            chunk = claimed[start : start + ctx.settings.chunk_size]
            # preparing this chunk overlaps the previous chunk's record transaction
            sender.add(await _prepare_chunk(ctx, chunk, provider, now))
    finally:
        await sender.close()
    return len(claimed)


class _BatchSender:
    """Fills provider batches up to the provider's count and byte limits. Each prepared chunk
    is recorded in its own transaction (batch row, items, input messages, run states) in
    the background; a full batch is sent once all its chunks are recorded."""

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
        self.provider, self.cap = provider, cap
        self.batch_id: str | None = None
        self.entries: list[dict[str, Any]] = []
        self.splitter = BatchSplitter(cap, provider.limits.max_bytes)
        self.recording: asyncio.Task[None] | None = None
        self.sends: list[tuple[str, list[dict[str, Any]], asyncio.Task[None] | None]] = []
        self.recorded: set[str] = set()

    def add(self, prepared: list[Prepared]) -> None:
        pending: list[Prepared] = []
        for item in prepared:
            if self.splitter.starts_new_batch(item.size) and self.batch_id is not None:
                self._record(pending)
                pending = []
                self._close_batch()
            if self.batch_id is None:
                self.batch_id, self.entries = new_id("pbatch"), []
            pending.append(item)
            self.entries.append(item.entry)
        self._record(pending)

    def _record(self, items: list[Prepared]) -> None:
        if not items or self.batch_id is None:
            return
        first = self.batch_id not in self.recorded
        self.recorded.add(self.batch_id)
        self.recording = asyncio.create_task(
            _record_chunk(
                self.ctx,
                self.job_id,
                self.model,
                self.provider,
                self.batch_id,
                items,
                first,
                self.recording,
            )
        )

    def _close_batch(self) -> None:
        if self.batch_id is not None and self.entries:
            self.sends.append((self.batch_id, self.entries, self.recording))
        self.batch_id, self.entries = None, []

    async def close(self) -> None:
        self._close_batch()
        for batch_id, entries, recorded in self.sends:
            if recorded is not None:
                await recorded
            await _submit_recorded(
                self.ctx, self.provider, self.job_id, self.model, self.model_name, batch_id, entries
            )
        if self.recording is not None:
            await self.recording


async def _claim(ctx: RuntimeContext, job_id: str, model: str, limit: int) -> list[Any]:
    now = ctx.clock()

    async def claim(conn: Any) -> list[Any]:
        return await rr.claim_runs(
            conn,
            job_id=job_id,
            model=model,
            owner=ctx.owner,
            now=now,
            until=ctx.lease_until(now),
            limit=limit,
            skip_locked=ctx.skip_locked,
        )

    return await ctx.db.transact(claim)


@dataclass(slots=True)
class BatchSplitter:
    """Fills provider batches in order, each within both limits (a single oversized
    request goes alone and the provider reports it)."""

    max_requests: int
    max_bytes: int
    count: int = 0
    size: int = 0

    def starts_new_batch(self, item_size: int) -> bool:
        """Account for the next request; True when it must open a new batch."""
        full = self.count > 0 and (
            self.count >= self.max_requests or self.size + item_size > self.max_bytes
        )
        if full:
            self.count, self.size = 0, 0
        self.count += 1
        self.size += item_size
        return full


def split_by_limits(
    items: list[Prepared], max_requests: int, max_bytes: int
) -> list[list[Prepared]]:
    """Consecutive groups within both limits, as ``_BatchSender`` forms its batches."""
    splitter = BatchSplitter(max_requests, max_bytes)
    groups: list[list[Prepared]] = []
    for item in items:
        if splitter.starts_new_batch(item.size) or not groups:
            groups.append([])
        groups[-1].append(item)
    return groups


async def _prepare_chunk(
    ctx: RuntimeContext, runs: list[Any], provider: BatchProvider, now: Any
) -> list[Prepared]:
    agent_ids = [r.agent_id for r in runs]
    async with ctx.db.read() as conn:
        agents, agent_blocks = await ctx.agents.load(conn, agent_ids)
        block_map = await rr.load_block_views(
            conn, (b for ids in agent_blocks.values() for b in ids)
        )
        cached = {
            r.agent_id: window
            for r in runs
            if (window := ctx.contexts.get(r.agent_id, r.id, r.step)) is not None
        }
        contexts = await rr.load_context(conn, [a for a in agent_ids if a not in cached])
        jobs = await ctx.jobs.load(conn, {r.job_id for r in runs})
        customs = await ctx.custom_tools.load(conn, agents.values())
    measure = provider.limits.max_bytes < UNLIMITED_BYTES
    renderer = MemoryRenderer()
    catalogs: dict[str, ToolCatalog] = {}
    out: list[Prepared] = []
    failures: dict[str, str] = {}
    for run in runs:
        agent_org = agents.get(run.agent_id)
        if agent_org is None:
            failures[run.id] = "agent no longer exists"
            continue
        agent, org_id = agent_org
        new_msgs = [Message.from_dict(m) for m in run.pending_messages or ()]
        window = cached.get(run.agent_id)
        context = list(window) if window is not None else contexts.get(run.agent_id, []) + new_msgs
        blocks = [block_map[b] for b in agent_blocks.get(run.agent_id, ()) if b in block_map]
        item_id = new_id("item")
        catalog = catalogs.get(org_id)
        if catalog is None:
            catalog = catalogs[org_id] = catalog_for(org_id, customs)
        try:
            request = build_request(
                agent,
                blocks,
                context,
                SolverState.from_dict(run.solver_state),
                catalog=catalog,
                renderer=renderer,
                step=run.step,
                attempt=run.attempt,
                job_options=jobs[run.job_id].options or {},
                rules=RuleSet(agent.rules),
            )
            entry = provider.encode(item_id, request)
        except (ValueError, KeyError, TypeError) as exc:
            failures[run.id] = f"could not build the request: {exc}"
            continue
        size = _payload_size(entry) if measure else 0
        rows = [
            message_row(
                m,
                org_id=org_id,
                agent_id=run.agent_id,
                job_id=run.job_id,
                run_id=run.id,
                step=run.step,
                now=now,
            )
            for m in new_msgs
        ]
        ctx.contexts.put(run.agent_id, run.id, run.step, context)
        out.append(Prepared(run.id, item_id, run.step, run.attempt, entry, size, rows))
    if failures:
        for run_id, error in failures.items():
            await fail_runs(ctx, [run_id], error)
    return out


async def _record_chunk(
    ctx: RuntimeContext,
    job_id: str,
    model: str,
    provider: BatchProvider,
    batch_id: str,
    items: list[Prepared],
    first: bool,
    previous: asyncio.Task[None] | None,
) -> None:
    if previous is not None:
        await previous  # records commit in order
    now = ctx.clock()

    async def record(conn: Any) -> None:
        if first:
            await rr.insert_provider_batch(
                conn,
                {
                    "id": batch_id,
                    "job_id": job_id,
                    "provider": provider.name,
                    "model": model,
                    "status": BatchStatus.SUBMITTING.value,
                    "request_count": 0,
                    "payload_bytes": 0,
                    "poll_count": 0,
                    "lease_owner": ctx.owner,
                    "lease_expires": ctx.lease_until(now),
                    "created_at": now,
                },
            )
            await rr.mark_jobs_running(conn, [job_id], now)
        await rr.grow_batch(conn, batch_id, len(items), sum(i.size for i in items))
        dialect = conn.dialect.name
        item_rows = [
            {
                "id": i.item_id,
                "provider_batch_id": batch_id,
                "job_id": job_id,
                "run_id": i.run_id,
                "step": i.step,
                "attempt": i.attempt,
                "applied": False,
                "created_at": now,
            }
            for i in items
        ]
        run_rows = [
            {
                "b_id": i.run_id,
                "status": RunStatus.WAITING_MODEL.value,
                "current_item_id": i.item_id,
                "pending_messages": None,
                "lease_owner": None,
                "lease_expires": None,
                "updated_at": now,
            }
            for i in items
        ]
        await run_ops(
            conn,
            [
                *insert_op(
                    tables.messages, [row for i in items for row in i.new_messages], dialect
                ),
                *insert_op(tables.batch_items, item_rows, dialect),
                *update_ops(tables.runs, run_rows, dialect),
            ],
        )

    await ctx.db.transact(record)


async def _submit_recorded(
    ctx: RuntimeContext,
    provider: BatchProvider,
    job_id: str,
    model: str,
    model_name: str,
    batch_id: str,
    entries: list[dict[str, Any]],
) -> None:
    tag = BatchTag(batch_id, job_id, ctx.clock(), len(entries))
    try:
        handle = await with_retries(
            lambda: provider.submit(model_name, entries, tag),
            what=f"submit to {provider.name}",
            retries=ctx.settings.provider_retries,
            base=ctx.settings.provider_backoff_s,
            sleep=ctx.sleep,
            rng=ctx.rng,
        )
    except ProviderError as exc:
        log.warning("provider batch %s could not be created: %s", batch_id, exc)
        await settle_batch_items(
            ctx, batch_id, f"batch could not be created: {exc}", BatchStatus.FAILED
        )
        return
    delay = poll_delay(ctx, provider)
    done = ctx.clock()

    async def accepted(conn: Any) -> None:
        await rr.update_batch(
            conn,
            batch_id,
            external_id=handle,
            status=BatchStatus.IN_PROGRESS.value,
            submitted_at=done,
            next_poll_at=done + timedelta(seconds=delay),
            lease_owner=None,
            lease_expires=None,
        )

    await ctx.db.transact(accepted)
    log.info(
        "submitted provider batch %s (%s, %d requests) as %s", batch_id, model, len(entries), handle
    )
