"""What one apply chunk writes (blocks, messages, runs, item settlements) and the checks
that make it a guarded transition: every item still unapplied, every run still waiting on
that item at that step, every block a memory tool read still at the version read.

``commit`` checks and writes in one transaction (on SQLite in one driver call; on
PostgreSQL after locking the rows it compares); ``write`` writes without checking, for a
plan recomputed under those locks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch import jsonfast
from agentbatch.domain.agents import BlockView
from agentbatch.store import block_history, blocks, items, messages, passages, run_reads, runs
from agentbatch.store.bulk import Check, Op, run_ops


@dataclass
class StepWrites:
    now: datetime
    settle: list[dict[str, Any]] = field(default_factory=list)  # items settled
    item_results: list[dict[str, Any]] = field(default_factory=list)  # stored, not settled
    run_updates: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    blocks: list[BlockView] = field(default_factory=list)
    block_edits: list[dict[str, Any]] = field(default_factory=list)  # block history rows
    autoclear: list[str] = field(default_factory=list)  # agents whose window empties
    evict: list[tuple[str, int]] = field(default_factory=list)  # (agent, oldest n) leave
    passages: list[dict[str, Any]] = field(default_factory=list)  # archival inserts


@dataclass
class StepExpect:
    items: set[str] = field(default_factory=set)
    runs: dict[str, tuple[str, str | None, int]] = field(default_factory=dict)
    blocks: dict[str, int] = field(default_factory=dict)


def _ops(writes: StepWrites, dialect: str) -> list[Op]:
    return [
        *blocks.write_ops(writes.blocks, writes.now, dialect),
        *block_history.insert_ops(writes.block_edits, dialect),
        *messages.evict_ops(writes.evict, dialect),
        *messages.insert_ops(writes.messages, dialect),
        *passages.insert_ops(writes.passages, dialect),
        *runs.write_ops(writes.run_updates, dialect),
        *items.settle_ops(writes.settle, dialect),
        *items.result_ops(writes.item_results, dialect),
    ]


def _sqlite_checks(expect: StepExpect) -> list[Check]:
    heads = [[run, head[1], head[2]] for run, head in expect.runs.items()]
    versions = [[b, v] for b, v in expect.blocks.items()]
    return [
        (items.UNAPPLIED_CHECK_SQLITE, (jsonfast.dumps(sorted(expect.items)),), len(expect.items)),
        (run_reads.HEADS_CHECK_SQLITE, (jsonfast.dumps(heads),), len(heads)),
        (blocks.VERSIONS_CHECK_SQLITE, (jsonfast.dumps(versions),), len(versions)),
    ]


async def _still_valid(conn: AsyncConnection, expect: StepExpect) -> bool:
    """PostgreSQL: lock what the plan read, then compare. Enough to know: every item is
    still unapplied; every run still waits on that item (its step and item change only
    when the item is applied, or its status when the job is cancelled); every block read
    by a memory tool still has the version read."""
    if await items.unapplied_ids(conn, expect.items) != expect.items:
        return False
    if await run_reads.heads(conn, expect.runs, lock=True) != expect.runs:
        return False
    return await blocks.versions(conn, expect.blocks, lock=True) == expect.blocks


async def commit(conn: AsyncConnection, writes: StepWrites, expect: StepExpect) -> bool:
    """Write if every expectation still holds (in this transaction); False otherwise."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        done = await run_ops(conn, _ops(writes, dialect), _sqlite_checks(expect))
    else:
        done = await _still_valid(conn, expect)
        if done:
            await run_ops(conn, _ops(writes, dialect))
    if done and writes.autoclear:
        await messages.clear_context(conn, writes.autoclear)
    return done


async def write(conn: AsyncConnection, writes: StepWrites) -> None:
    """Write a plan made under this transaction's locks."""
    await run_ops(conn, _ops(writes, conn.dialect.name))
    if writes.autoclear:
        await messages.clear_context(conn, writes.autoclear)
