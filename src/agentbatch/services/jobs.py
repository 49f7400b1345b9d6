"""Batch jobs: create (validated, bulk), read (status, counts, usage, cost), cancel."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from agentbatch.domain.messages import parse_input_messages
from agentbatch.domain.statuses import JobStatus, RunStatus
from agentbatch.errors import ConfigError, Conflict, InvalidInput, NotFound, ProviderError
from agentbatch.ids import Clock, iso, new_id, utcnow
from agentbatch.net_guard import AddressPolicy, url_problem
from agentbatch.observability import default_observer
from agentbatch.pricing import PriceTable
from agentbatch.providers.registry import ProviderRegistry
from agentbatch.providers.scripted_model import validate_script
from agentbatch.schemas import JobCreate
from agentbatch.services.agents import parse_model
from agentbatch.store import jobs as store_jobs
from agentbatch.store import jobs_repo as repo
from agentbatch.store.agents_repo import agent_models
from agentbatch.store.db import Database
from agentbatch.store.runs_read import outcome_counts

log = logging.getLogger(__name__)


def run_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "agent_id": row.agent_id,
        "model": row.model,
        "status": row.status,
        "step": row.step,
        "attempt": row.attempt,
        "stop_reason": row.stop_reason,
        "reply": row.reply,
        "last_error": row.last_error,
        "context": {
            "window": getattr(row, "context_window", None),
            "peak_tokens": getattr(row, "context_tokens", None),
            "summary_steps": getattr(row, "summary_steps", 0),
            "evicted_messages": getattr(row, "evicted_messages", 0),
            "note": getattr(row, "context_note", None),
        },
        "usage": {
            "input_tokens": row.input_tokens,
            "output_tokens": row.output_tokens,
            "cache_read_tokens": row.cache_read_tokens,
            "cache_write_tokens": row.cache_write_tokens,
        },
        "updated_at": iso(row.updated_at),
        "finished_at": iso(row.finished_at),
    }


def message_out(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "agent_id": row.agent_id,
        "job_id": row.job_id,
        "run_id": row.run_id,
        "step": row.step,
        "role": row.role,
        "kind": row.kind,
        "content": row.content,
    }
    if row.reasoning:
        out["reasoning"] = row.reasoning
    if row.tool_calls:
        out["tool_calls"] = row.tool_calls
    if row.tool_call_id:
        out["tool_call_id"] = row.tool_call_id
        out["name"] = row.name
        out["is_error"] = bool(row.is_error)
    out["created_at"] = iso(row.created_at)
    return out


class JobService:
    def __init__(
        self,
        db: Database,
        registry: ProviderRegistry,
        *,
        max_attempts: int = 3,
        prices: PriceTable | None = None,
        clock: Clock = utcnow,
        callback_policy: AddressPolicy | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.max_attempts = max_attempts
        self.prices = prices or PriceTable.load()
        self.clock = clock
        self.callback_policy = callback_policy or AddressPolicy()

    async def create_job(self, org_id: str, data: JobCreate | dict[str, Any]) -> dict[str, Any]:
        spec: JobCreate = parse_model(JobCreate, data)
        if not spec.requests:
            raise InvalidInput("requests must not be empty")
        counts = Counter(r.agent_id for r in spec.requests)
        dupes = sorted(a for a, n in counts.items() if n > 1)
        if dupes:
            raise InvalidInput(f"duplicate agent ids in one job: {', '.join(dupes[:10])}")
        pending: list[list[dict[str, Any]]] = []
        for i, request in enumerate(spec.requests):
            try:
                pending.append([m.to_dict() for m in parse_input_messages(request.messages)])
            except ValueError as exc:
                raise InvalidInput(f"requests[{i}] ({request.agent_id}): {exc}") from None
        if "script" in spec.options:
            try:
                validate_script(spec.options["script"])
            except ValueError as exc:
                raise InvalidInput(f"options.script: {exc}") from None
        if spec.callback_url is not None:
            problem = url_problem(spec.callback_url, self.callback_policy)
            if problem is not None:
                raise InvalidInput(f"callback_url: {problem}")
        agent_ids = [r.agent_id for r in spec.requests]
        now = self.clock()
        job_id = new_id("job")
        async with self.db.write() as conn:
            models = await agent_models(conn, org_id, agent_ids)
            unknown = [a for a in agent_ids if a not in models]
            if unknown:
                more = f" (and {len(unknown) - 10} more)" if len(unknown) > 10 else ""
                raise InvalidInput(f"unknown agent id(s): {', '.join(unknown[:10])}{more}")
            busy = await repo.busy_agents(conn, agent_ids)
            if busy:
                agent, job = next(iter(busy.items()))
                raise Conflict(
                    f"{len(busy)} agent(s) already have an unfinished run (for example {agent} "
                    f"in job {job}); an agent runs in one job at a time"
                )
            await repo.insert_job(
                conn,
                {
                    "id": job_id,
                    "org_id": org_id,
                    "status": JobStatus.CREATED.value,
                    "max_steps": spec.max_steps,
                    "max_attempts": spec.max_attempts or self.max_attempts,
                    "options": spec.options,
                    "metadata": spec.metadata,
                    "callback_url": spec.callback_url,
                    "callback_status": "pending" if spec.callback_url else None,
                    "callback_attempts": 0,
                    "request_count": len(spec.requests),
                    "created_at": now,
                    "updated_at": now,
                },
            )
            await repo.insert_runs(
                conn,
                (
                    {
                        "id": new_id("run"),
                        "job_id": job_id,
                        "agent_id": agent_id,
                        "org_id": org_id,
                        "model": models[agent_id],
                        "status": RunStatus.QUEUED.value,
                        "step": 0,
                        "solver_state": None,
                        "pending_messages": msgs,
                        "attempt": 1,
                        "not_before": now,
                        "created_at": now,
                        "updated_at": now,
                        "input_tokens": 0,
                        "output_tokens": 0,
                        "cache_read_tokens": 0,
                        "cache_write_tokens": 0,
                    }
                    for agent_id, msgs in zip(agent_ids, pending, strict=True)
                ),
            )
        return await self.get_job(org_id, job_id)

    async def get_job(self, org_id: str | None, job_id: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            row = await repo.get_job_row(conn, org_id, job_id)
            if row is None:
                raise NotFound(f"job {job_id!r} not found")
            counts = (await repo.run_counts(conn, [job_id]))[job_id]
            usage = await repo.job_usage(conn, job_id)
            by_model = await repo.usage_by_model(conn, job_id)
            batches = await repo.batch_counts(conn, job_id)
            outcomes = (await outcome_counts(conn, [job_id]))[job_id]
            context = await repo.job_context(conn, job_id)
        out = self._job_out(row, counts, outcomes)
        out["usage"] = usage
        out["context"] = context
        out["cost"] = self.prices.job_cost(by_model)
        out["provider_batches"] = batches
        return out

    def _job_out(
        self, row: Any, counts: dict[str, int], outcomes: dict[str, int]
    ) -> dict[str, Any]:
        return {
            "id": row.id,
            "status": row.status,
            "max_steps": row.max_steps,
            "request_count": row.request_count,
            "runs": {s.value: counts.get(s.value, 0) for s in RunStatus},
            "outcomes": outcomes,
            "metadata": row.metadata,
            "callback_url": row.callback_url,
            "callback": {
                "status": row.callback_status,
                "attempts": row.callback_attempts,
                "error": row.callback_error,
            }
            if row.callback_url
            else None,
            "error": row.error,
            "created_at": iso(row.created_at),
            "started_at": iso(row.started_at),
            "finished_at": iso(row.finished_at),
        }

    async def list_jobs(
        self, org_id: str, *, status: str | None = None, limit: int = 50, before: str | None = None
    ) -> list[dict[str, Any]]:
        if status is not None and status not in {s.value for s in JobStatus}:
            raise InvalidInput(
                f"unknown job status {status!r}; choose from {', '.join(s.value for s in JobStatus)}"
            )
        async with self.db.read() as conn:
            rows = await repo.list_job_rows(conn, org_id, status=status, limit=limit, before=before)
            ids = [r.id for r in rows]
            counts = await repo.run_counts(conn, ids) if rows else {}
            outcomes = await outcome_counts(conn, ids)
        return [self._job_out(r, counts.get(r.id, {}), outcomes.get(r.id, {})) for r in rows]

    async def _require_job(self, org_id: str | None, job_id: str) -> Any:
        async with self.db.read() as conn:
            row = await repo.get_job_row(conn, org_id, job_id)
        if row is None:
            raise NotFound(f"job {job_id!r} not found")
        return row

    async def job_messages(
        self,
        org_id: str | None,
        job_id: str,
        *,
        agent_id: str | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        await self._require_job(org_id, job_id)
        async with self.db.read() as conn:
            rows = await repo.job_message_rows(
                conn, job_id, agent_id=agent_id, after=after, limit=limit
            )
        return [message_out(r) for r in rows]

    async def job_runs(
        self,
        org_id: str | None,
        job_id: str,
        *,
        status: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        await self._require_job(org_id, job_id)
        async with self.db.read() as conn:
            rows = await repo.job_run_rows(conn, job_id, status=status, after=after, limit=limit)
        return [run_out(r) for r in rows]

    async def cancel_job(self, org_id: str | None, job_id: str) -> dict[str, Any]:
        """Cancel in one transaction (runs, unapplied items, open provider batches), then
        ask the providers to cancel the batches they have; the worker's cleanup pass
        follows each to its end and deletes its files."""
        now = self.clock()
        # retried when it deadlocks with a worker's write (PostgreSQL picks one to abort)
        outcome = await self.db.transact(lambda conn: store_jobs.cancel(conn, org_id, job_id, now))
        if outcome is None:
            raise NotFound(f"job {job_id!r} not found")
        if isinstance(outcome, str):
            raise Conflict(f"job {job_id!r} is already {outcome}; nothing to cancel")
        for batch in outcome.to_cancel:
            try:
                await self.registry.get(batch.provider).cancel(batch.external_id)
            except (ProviderError, ConfigError) as exc:
                log.warning("could not cancel provider batch %s yet: %s", batch.external_id, exc)
        await default_observer().jobs_ended(self.db, [job_id])
        return await self.get_job(org_id, job_id)
