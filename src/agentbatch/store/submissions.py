"""Recording a chunk of a provider batch before it is sent: one transaction that writes
nothing unless the batch row is still this worker's (``submitting``, its lease and fence),
moves each claimed run queued → waiting_model only while still under this worker's claim,
and inserts items and input messages for exactly the runs that moved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.store import items, jobs, messages, runs
from agentbatch.store.bulk import Check, Op, insert_op, keep, run_guarded
from agentbatch.store.provider_batches import SUBMITTING
from agentbatch.store.tables import provider_batches as pb


@dataclass(frozen=True, slots=True)
class RecordedItem:
    run_id: str
    run_fence: int
    item_id: str
    step: int
    attempt: int
    size: int
    messages: list[dict[str, Any]]
    kind: str | None = None  # "summary" for a summary step
    context: dict[str, Any] | None = None
    est_cost: float | None = None  # what the budget check expects it to cost (USD)


async def record_chunk(
    conn: AsyncConnection,
    *,
    batch_id: str,
    job_id: str,
    provider: str,
    model: str,
    owner: str,
    now: datetime,
    until: datetime,
    chunk: Sequence[RecordedItem],
    first: bool,
    kind: str = "batch",
    supersede: dict[str, str] | None = None,
) -> set[str] | None:
    """The run ids recorded; None when the batch row is no longer this worker's. The
    ``first`` chunk creates the batch row (leased to ``owner``, fence 1, of ``kind``
    ``batch`` or ``live``), only if at least one of its runs moved: a claim taken over
    entirely leaves nothing behind. With ``supersede`` (run id -> the item it waits on)
    the runs are waiting, not queued, and move to the new items."""
    dialect = conn.dialect.name
    checks = () if first else (still_submitting_check(dialect, batch_id, owner, 1),)
    if supersede is None:
        guard = runs.record_statement(
            dialect, owner, now, [(i.run_id, i.run_fence, i.item_id) for i in chunk]
        )
    else:  # the runs wait on another item: they move to the new one (a step resent live)
        claims = [(i.run_id, i.run_fence, i.item_id, supersede[i.run_id]) for i in chunk]
        guard = runs.supersede_statement(dialect, owner, now, claims)
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
            "kind": i.kind,
            "context": i.context,
            "est_cost_usd": i.est_cost,
        }
        for i in chunk
    ]
    msg_rows = [m for i in chunk for m in i.messages]
    msg_keys = [i.run_id for i in chunk for _ in i.messages]
    run_keys = [i.run_id for i in chunk]

    def batch_ops(moved: set[Any]) -> list[Op]:
        size = sum(i.size for i in chunk if i.run_id in moved)
        if not moved:
            return []
        if not first:
            return [grow_op(dialect, batch_id, len(moved), size)]
        row = submitting_row(
            batch_id=batch_id,
            job_id=job_id,
            provider=provider,
            model=model,
            owner=owner,
            until=until,
            now=now,
            requests=len(moved),
            size=size,
            kind=kind,
        )
        return [
            *insert_op(pb, [row], dialect),
            jobs.mark_running_op(dialect, job_id, now),
        ]

    def item_ops(moved: set[Any]) -> list[Op]:
        return [
            (sql, keep(rows, run_keys, moved)) for sql, rows in items.insert_ops(item_rows, dialect)
        ]

    def message_ops(moved: set[Any]) -> list[Op]:
        return [
            (sql, keep(rows, msg_keys, moved))
            for sql, rows in messages.insert_ops(msg_rows, dialect)
        ]

    return await run_guarded(conn, guard, (batch_ops, message_ops, item_ops), checks)


def submitting_row(
    *,
    batch_id: str,
    job_id: str,
    provider: str,
    model: str,
    owner: str,
    until: datetime,
    now: datetime,
    requests: int,
    size: int,
    kind: str = "batch",
) -> dict[str, Any]:
    """A new batch row, leased to ``owner`` with fence 1, before anything goes out."""
    return {
        "kind": kind,
        "id": batch_id,
        "job_id": job_id,
        "provider": provider,
        "model": model,
        "status": SUBMITTING,
        "request_count": requests,
        "payload_bytes": size,
        "poll_count": 0,
        "lease_owner": owner,
        "lease_expires": until,
        "fence": 1,
        "created_at": now,
    }


def still_submitting_check(dialect: str, batch_id: str, owner: str, fence: int) -> Check:
    """The record transaction writes nothing unless the batch is still this claim's."""
    marks = ("?", "?", "?") if dialect == "sqlite" else ("$1", "$2", "$3")
    sql = (
        f"SELECT count(*) FROM provider_batches WHERE id = {marks[0]} AND status = 'submitting' "
        f"AND lease_owner = {marks[1]} AND fence = {marks[2]}"
    )
    return sql, (batch_id, owner, fence), 1


def grow_op(dialect: str, batch_id: str, requests: int, size: int) -> Op:
    if dialect == "sqlite":
        sql = (
            "UPDATE provider_batches SET request_count = request_count + ?, "
            "payload_bytes = payload_bytes + ? WHERE id = ?"
        )
    else:
        sql = (
            "UPDATE provider_batches SET request_count = request_count + $1, "
            "payload_bytes = payload_bytes + $2 WHERE id = $3"
        )
    return sql, [(requests, size, batch_id)]
