"""Batch jobs: create (validated, bulk), read (status, counts, usage, cost), cancel."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from agentbatch.domain.durations import parse_deadline
from agentbatch.domain.messages import parse_input_messages
from agentbatch.domain.statuses import JobStatus
from agentbatch.domain.templates import compile_template
from agentbatch.errors import ConfigError, Conflict, InvalidInput, NotFound, ProviderError
from agentbatch.ids import Clock, new_id, utcnow
from agentbatch.net_guard import AddressPolicy, url_problem
from agentbatch.observability import default_observer
from agentbatch.pricing import PriceTable
from agentbatch.providers.registry import ProviderRegistry
from agentbatch.providers.scripted_model import validate_script
from agentbatch.schemas import JobCreate
from agentbatch.services.agents import parse_model
from agentbatch.services.job_builder import (
    Built,
    JobValues,
    insert_selected,
    job_row,
    resolve_criteria,
    run_row,
)
from agentbatch.services.job_views import job_details, job_out, message_out, run_out
from agentbatch.store import jobs as store_jobs
from agentbatch.store import jobs_repo as repo
from agentbatch.store.agents_repo import agent_models
from agentbatch.store.db import Database
from agentbatch.store.runs_read import outcome_counts

log = logging.getLogger(__name__)


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
        """A job from a list of requests, or from a selector (ids, tags, model, or a saved
        selector) with messages templated per agent."""
        spec: JobCreate = parse_model(JobCreate, data)
        now = self.clock()
        values = self.job_values(org_id, spec, now)
        if spec.requests is None:
            return await self._create_selected(org_id, spec, values, now)
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
        agent_ids = [r.agent_id for r in spec.requests]
        job_id = new_id("job")
        async with self.db.write() as conn:
            models = await agent_models(conn, org_id, agent_ids)
            unknown = [a for a in agent_ids if a not in models]
            if unknown:
                more = f" (and {len(unknown) - 10} more)" if len(unknown) > 10 else ""
                raise InvalidInput(f"unknown agent id(s): {', '.join(unknown[:10])}{more}")
            busy = await repo.busy_agents(conn, agent_ids)
            if busy and spec.skip_busy:
                agent_ids = [a for a in agent_ids if a not in busy]
                pending = [
                    p for r, p in zip(spec.requests, pending, strict=True) if r.agent_id not in busy
                ]
                if not agent_ids:
                    raise Conflict(f"all {len(busy)} agent(s) already have an unfinished run")
            elif busy:
                agent, job = next(iter(busy.items()))
                raise Conflict(
                    f"{len(busy)} agent(s) already have an unfinished run (for example {agent} "
                    f"in job {job}); an agent runs in one job at a time"
                )
            await repo.insert_job(conn, job_row(job_id, values, now, len(agent_ids)))
            await repo.insert_runs(
                conn,
                (
                    run_row(job_id, agent_id, org_id, models[agent_id], msgs, now)
                    for agent_id, msgs in zip(agent_ids, pending, strict=True)
                ),
            )
            if busy:
                await repo.set_request_count(conn, job_id, len(agent_ids), len(busy))
        return await self.get_job(org_id, job_id)

    def job_values(self, org_id: str, spec: JobCreate, now: Any) -> JobValues:
        """The job's checked settings (script, callback URL, deadline)."""
        if "script" in spec.options:
            try:
                validate_script(spec.options["script"])
            except ValueError as exc:
                raise InvalidInput(f"options.script: {exc}") from None
        if spec.callback_url is not None:
            problem = url_problem(spec.callback_url, self.callback_policy)
            if problem is not None:
                raise InvalidInput(f"callback_url: {problem}")
        deadline = None
        if spec.deadline is not None:
            try:
                deadline = parse_deadline(spec.deadline, now)
            except ValueError as exc:
                raise InvalidInput(f"deadline: {exc}") from None
        return JobValues(
            org_id=org_id,
            max_steps=spec.max_steps,
            max_attempts=spec.max_attempts or self.max_attempts,
            options=spec.options,
            metadata=spec.metadata,
            callback_url=spec.callback_url,
            deadline_at=deadline,
            max_cost_usd=spec.max_cost_usd,
        )

    async def _create_selected(
        self, org_id: str, spec: JobCreate, values: JobValues, now: Any
    ) -> dict[str, Any]:
        try:
            template = compile_template(spec.messages)
        except ValueError as exc:
            raise InvalidInput(f"messages: {exc}") from None

        async def txn(conn: Any) -> Built:
            criteria = await resolve_criteria(
                conn, org_id, spec.agents.model_dump() if spec.agents else None, spec.selector
            )
            return await insert_selected(
                conn,
                values,
                criteria,
                template,
                now,
                skip_busy=True if spec.skip_busy is None else spec.skip_busy,
            )

        built = await self.db.transact(txn)
        if built.job_id is None:
            if built.selected == 0:
                raise InvalidInput("no agent matches the selector")
            raise Conflict(f"all {built.selected} selected agent(s) already have an unfinished run")
        return await self.get_job(org_id, built.job_id)

    async def get_job(self, org_id: str | None, job_id: str) -> dict[str, Any]:
        """Status, runs by status, usage, cost (batch and live), cache hit ratio, budget,
        provider batches."""
        async with self.db.read() as conn:
            row = await repo.get_job_row(conn, org_id, job_id)
            if row is None:
                raise NotFound(f"job {job_id!r} not found")
            return await job_details(conn, row, self.prices)

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
        return [job_out(r, counts.get(r.id, {}), outcomes.get(r.id, {})) for r in rows]

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
