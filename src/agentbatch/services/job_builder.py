"""Building a job's rows inside a caller's transaction: the job row, and one run per agent
chosen by a selector (ids, tags, model), with the job's messages rendered per agent.

Agents are read and their runs written page by page (keyset on id): a job for 100,000
agents takes a few dozen statements and never holds all agents in memory. Agents still
busy in another job are left out and counted (``skip_busy``) or refuse the job. The same
code creates jobs for the API and for schedule fires (in the fire's claim transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.statuses import JobStatus, RunStatus
from agentbatch.domain.templates import AgentFields, MessageTemplate
from agentbatch.errors import Conflict, InvalidInput, NotFound
from agentbatch.ids import new_id
from agentbatch.store import jobs_repo, selection
from agentbatch.store.selection import Criteria

PAGE = 2000


@dataclass(frozen=True)
class JobValues:
    """A job's checked settings (everything but its runs)."""

    org_id: str
    max_steps: int
    max_attempts: int
    options: dict[str, Any]
    metadata: dict[str, Any]
    callback_url: str | None = None
    deadline_at: datetime | None = None
    max_cost_usd: float | None = None
    schedule_id: str | None = None


@dataclass(frozen=True)
class Built:
    """What a selector job got: its id (None when no agent could run), how many agents
    matched and how many were left out because they were busy."""

    job_id: str | None
    selected: int
    skipped_busy: int

    @property
    def runs(self) -> int:
        return self.selected - self.skipped_busy


def job_row(job_id: str, v: JobValues, now: datetime, request_count: int) -> dict[str, Any]:
    return {
        "id": job_id,
        "org_id": v.org_id,
        "status": JobStatus.CREATED.value,
        "max_steps": v.max_steps,
        "max_attempts": v.max_attempts,
        "options": v.options,
        "metadata": v.metadata,
        "callback_url": v.callback_url,
        "callback_status": "pending" if v.callback_url else None,
        "callback_attempts": 0,
        "request_count": request_count,
        "created_at": now,
        "updated_at": now,
        "deadline_at": v.deadline_at,
        "max_cost_usd": v.max_cost_usd,
        "skipped_agents": 0,
        "schedule_id": v.schedule_id,
    }


def run_row(
    job_id: str,
    agent_id: str,
    org_id: str,
    model: str,
    messages: list[dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": new_id("run"),
        "job_id": job_id,
        "agent_id": agent_id,
        "org_id": org_id,
        "model": model,
        "status": RunStatus.QUEUED.value,
        "step": 0,
        "solver_state": None,
        "pending_messages": messages,
        "attempt": 1,
        "not_before": now,
        "created_at": now,
        "updated_at": now,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
    }


async def resolve_criteria(
    conn: AsyncConnection, org_id: str, agents: dict[str, Any] | None, selector: str | None
) -> Criteria:
    """The criteria of an inline selector, or of the org's saved selector ``selector``."""
    if selector is not None:
        row = await selection.selector_row(conn, org_id, selector)
        if row is None:
            raise NotFound(f"selector {selector!r} not found")
        return Criteria.from_spec(dict(row.spec))
    assert agents is not None
    return Criteria.from_spec(agents)


async def insert_selected(
    conn: AsyncConnection,
    values: JobValues,
    criteria: Criteria,
    template: MessageTemplate,
    now: datetime,
    *,
    skip_busy: bool,
    strict_ids: bool = True,
) -> Built:
    """Insert the job and a run for every matching agent that is not busy. Raises Conflict
    when an agent is busy and ``skip_busy`` is false, InvalidInput when a message renders
    empty or (``strict_ids``) a listed id matches no agent. A job that would get no run is not created (``Built.job_id`` is None)."""
    job_id = new_id("job")
    await jobs_repo.insert_job(conn, job_row(job_id, values, now, 0))
    shared = None if template.per_agent else template.render(AgentFields("", "", "", (), {}))
    selected = skipped = 0
    after: str | None = None
    while True:
        page = await selection.agent_page(conn, values.org_id, criteria, after=after, limit=PAGE)
        if not page:
            break
        after = page[-1].id
        selected += len(page)
        busy = await jobs_repo.busy_agents(conn, [a.id for a in page])
        if busy and not skip_busy:
            busy_id, busy_job = next(iter(busy.items()))
            raise Conflict(
                f"{len(busy)} selected agent(s) already have an unfinished run (for example "
                f"{busy_id} in job {busy_job}); pass skip_busy to leave them out"
            )
        skipped += len(busy)
        rows = []
        for agent in page:
            if agent.id in busy:
                continue
            try:
                msgs = shared or template.render(
                    AgentFields(agent.id, agent.name, agent.model, agent.tags, agent.metadata)
                )
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
            rows.append(run_row(job_id, agent.id, values.org_id, agent.model, msgs, now))
        await jobs_repo.insert_runs(conn, rows)
    if strict_ids and criteria.ids is not None and selected < len(criteria.ids):
        missing = len(criteria.ids) - selected
        raise InvalidInput(f"{missing} of the selected agent ids are unknown or do not match")
    runs = selected - skipped
    if runs == 0:
        await jobs_repo.delete_empty_job(conn, job_id)
        return Built(None, selected, skipped)
    await jobs_repo.set_request_count(conn, job_id, runs, skipped)
    return Built(job_id, selected, skipped)
