"""What a job produced, run by run: listings with filters, streaming exports, outcome
counts, and an agent's transcript across jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from agentbatch.domain.statuses import RunStatus
from agentbatch.errors import InvalidInput, NotFound
from agentbatch.ids import iso
from agentbatch.pricing import PriceTable
from agentbatch.services.jobs import message_out
from agentbatch.store import jobs_repo
from agentbatch.store import runs_read as repo
from agentbatch.store.agents_repo import get_agent_row
from agentbatch.store.db import Database

# why a run ended (runs.stop_reason); "max_steps": it ran out of steps before a final reply
STOP_REASONS = ("final_reply", "terminal_tool", "end_turn", "max_steps", "error", "cancelled")
RUN_STATUSES = tuple(s.value for s in RunStatus)
EXPORT_PAGE = 1000


def check_choices(kind: str, values: Sequence[str], allowed: Sequence[str]) -> list[str]:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise InvalidInput(
            f"unknown {kind} {', '.join(repr(b) for b in bad)}; choose from {', '.join(allowed)}"
        )
    return list(values)


def run_result(row: Any, prices: PriceTable, input_text: str | None = None) -> dict[str, Any]:
    """One run as listings and exports show it."""
    cost = prices.job_cost([row])
    return {
        "run_id": row.id,
        "agent_id": row.agent_id,
        "agent_name": row.agent_name,
        "model": row.model,
        "status": row.status,
        "stop_reason": row.stop_reason,
        "input": input_text,
        "reply": row.reply,
        "error": row.last_error,
        "steps": row.step,
        "attempt": row.attempt,
        "input_tokens": int(row.input_tokens or 0),
        "output_tokens": int(row.output_tokens or 0),
        "cache_read_tokens": int(row.cache_read_tokens or 0),
        "cache_write_tokens": int(row.cache_write_tokens or 0),
        "cost_usd": cost["usd"],
        "finished_at": iso(row.finished_at),
    }


class ResultService:
    def __init__(self, db: Database, prices: PriceTable | None = None) -> None:
        self.db = db
        self.prices = prices or PriceTable.load()

    async def _require_job(self, org_id: str | None, job_id: str) -> Any:
        async with self.db.read() as conn:
            row = await jobs_repo.get_job_row(conn, org_id, job_id)
        if row is None:
            raise NotFound(f"job {job_id!r} not found")
        return row

    async def jobs_after(self, org_id: str, job_id: str, status: str | None = None) -> int:
        """How many of the organisation's jobs (of ``status``) are older than ``job_id``:
        what a cut list of jobs left out."""
        async with self.db.read() as conn:
            return await jobs_repo.count_jobs(conn, org_id, status=status, before=job_id)

    async def job_messages_after(
        self, org_id: str | None, job_id: str, after: int, agent_id: str | None = None
    ) -> int:
        """How many of a job's messages (of one agent) follow message ``after``."""
        await self._require_job(org_id, job_id)
        async with self.db.read() as conn:
            return await jobs_repo.count_job_messages(conn, job_id, agent_id=agent_id, after=after)

    async def outcomes(self, job_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        async with self.db.read() as conn:
            return await repo.outcome_counts(conn, job_ids)

    async def list_runs(
        self,
        org_id: str | None,
        job_id: str,
        *,
        statuses: Sequence[str] = (),
        stop_reasons: Sequence[str] = (),
        after: str | None = None,
        limit: int = 100,
        with_input: bool = True,
        count_more: bool = True,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of a job's runs and how many more match after it (0 unless
        ``count_more``)."""
        check_choices("run status", statuses, RUN_STATUSES)
        check_choices("stop reason", stop_reasons, STOP_REASONS)
        await self._require_job(org_id, job_id)
        filters = {"statuses": statuses, "stop_reasons": stop_reasons}
        async with self.db.read() as conn:
            rows = await repo.run_page(conn, job_id, after=after, limit=limit, **filters)
            inputs = (
                await repo.input_messages(conn, job_id, [r.agent_id for r in rows])
                if with_input
                else {}
            )
            unsent = [r.id for r in rows if with_input and r.agent_id not in inputs]
            if unsent:  # never written to the history: the input the run still holds
                held = await repo.pending_inputs(conn, unsent)
                inputs.update((r.agent_id, held[r.id]) for r in rows if r.id in held)
            more = (
                await repo.count_runs(conn, job_id, after=rows[-1].id, **filters)
                if count_more and len(rows) == limit
                else 0
            )
        return [run_result(r, self.prices, inputs.get(r.agent_id)) for r in rows], more

    async def iter_runs(
        self,
        org_id: str | None,
        job_id: str,
        *,
        statuses: Sequence[str] = (),
        stop_reasons: Sequence[str] = (),
        page: int = EXPORT_PAGE,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every matching run, a page per short read: memory stays at one page."""
        after: str | None = None
        while True:
            rows, _ = await self.list_runs(
                org_id,
                job_id,
                statuses=statuses,
                stop_reasons=stop_reasons,
                after=after,
                limit=page,
                count_more=False,
            )
            org_id = None  # checked on the first page
            for row in rows:
                yield row
            if len(rows) < page:
                return
            after = rows[-1]["run_id"]

    async def agent_messages(
        self, org_id: str, agent_id: str, *, after: int | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int]:
        """An agent's transcript across jobs (one page) and how many messages follow it."""
        async with self.db.read() as conn:
            if await get_agent_row(conn, org_id, agent_id) is None:
                raise NotFound(f"agent {agent_id!r} not found")
            rows = await repo.agent_message_rows(conn, agent_id, after=after, limit=limit)
            more = (
                await repo.count_agent_messages(conn, agent_id, rows[-1].id)
                if len(rows) == limit
                else 0
            )
        return [message_out(r) for r in rows], more
