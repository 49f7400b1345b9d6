"""Batch jobs: create (validated and stored in bulk; a worker submits), read, list, cancel,
and the runs and messages a job produced."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from agentbatch.api.deps import Batch, Org
from agentbatch.api.errors import ERROR_RESPONSES
from agentbatch.api.models import Job, JobSummary, Message, Page, Run
from agentbatch.api.routes import LIMIT_DESCRIPTION, page
from agentbatch.api.schedule_models import JobEstimate
from agentbatch.domain.statuses import JobStatus, RunStatus
from agentbatch.errors import InvalidInput
from agentbatch.schemas import JobCreate

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, tags=["jobs"])
Limit = Annotated[int, Query(ge=1, le=1000, description=LIMIT_DESCRIPTION)]
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of a page")]
_MAX_MESSAGE_ID = 2**63 - 1


@router.post("/jobs", status_code=201, response_model=Job)
async def create_job(body: JobCreate, batch: Batch, org: Org) -> dict[str, Any]:
    """Submit one request per agent (`requests`), or address agents by `agents` (ids,
    tags, model) or a saved `selector` with `messages` templated per agent. The job
    starts `created`; a worker sends the first provider batch. `deadline` and
    `max_cost_usd` bound its time and cost."""
    return await batch.jobs.create_job(org, body)


@router.post("/jobs/estimate", response_model=JobEstimate)
async def estimate_job(body: JobCreate, batch: Batch, org: Org) -> dict[str, Any]:
    """What the job's first step would send: input tokens from each agent's current
    window and the cost at the batch price. Nothing is created or sent."""
    return await batch.estimates.estimate_job(org, body)


@router.get("/jobs", response_model=Page[JobSummary])
async def list_jobs(
    batch: Batch,
    org: Org,
    status: JobStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Jobs, newest first."""
    status_value = status.value if status is not None else None
    rows = await batch.jobs.list_jobs(org, status=status_value, limit=limit + 1, before=cursor)
    return page(rows, limit)


@router.get("/jobs/{job_id}", response_model=Job)
async def get_job(job_id: str, batch: Batch, org: Org) -> dict[str, Any]:
    """Status, runs per status, token usage and cost, provider batches, callback delivery."""
    return await batch.jobs.get_job(org, job_id)


@router.post("/jobs/{job_id}/cancel", response_model=Job)
async def cancel_job(job_id: str, batch: Batch, org: Org) -> dict[str, Any]:
    """Cancel unfinished runs and open provider batches (409 when the job already ended)."""
    return await batch.jobs.cancel_job(org, job_id)


@router.get("/jobs/{job_id}/runs", response_model=Page[Run])
async def list_runs(
    job_id: str,
    batch: Batch,
    org: Org,
    status: RunStatus | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """One run per agent: step, status, reply, last error, usage."""
    status_value = status.value if status is not None else None
    rows = await batch.jobs.job_runs(
        org, job_id, status=status_value, after=cursor, limit=limit + 1
    )
    return page(rows, limit)


def _message_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isascii() or not cursor.isdigit() or int(cursor) > _MAX_MESSAGE_ID:
        raise InvalidInput("cursor must be the `next_cursor` of a messages page (a message id)")
    return int(cursor)


@router.get("/jobs/{job_id}/messages", response_model=Page[Message])
async def list_messages(
    job_id: str,
    batch: Batch,
    org: Org,
    agent_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Messages the job produced, in history order. Pass `next_cursor` back as `cursor`
    to read on (also after `has_more` is false, to tail a running job)."""
    rows = await batch.jobs.job_messages(
        org, job_id, agent_id=agent_id, after=_message_cursor(cursor), limit=limit + 1
    )
    return page(rows, limit)
