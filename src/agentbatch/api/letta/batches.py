"""Letta's batch endpoints (``client.batches`` of letta-client up to 1.7.0) on our jobs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from agentbatch.api.deps import Batch, Org
from agentbatch.api.errors import ERROR_RESPONSES
from agentbatch.api.letta.models import BatchJob, BatchMessages
from agentbatch.interop.letta.batches import CreateBatch
from agentbatch.services.letta_api import LettaService

router = APIRouter(responses=ERROR_RESPONSES, tags=["letta: batches"])
Limit = Annotated[int, Query(ge=1, le=1000, description="page size (1 to 1000)")]
Cursor = Annotated[str | None, Query(max_length=200)]
Order = Annotated[
    Literal["asc", "desc"], Query(description="by creation; `after` continues in this order")
]
OrderBy = Annotated[Literal["created_at"], Query()]


@router.post("/messages/batches", response_model=BatchJob)
async def create_batch(body: CreateBatch, batch: Batch, org: Org) -> dict[str, Any]:
    """Submit one request (`{agent_id, messages | input}`) per agent: a job. The callback
    gets `{job_id, status, completed_at, metadata}` (and our job summary) when it ends."""
    return await LettaService(batch).create_batch(org, body)


@router.get("/messages/batches", response_model=list[BatchJob])
async def list_batches(
    batch: Batch,
    org: Org,
    before: Cursor = None,
    after: Cursor = None,
    limit: Limit = 100,
    order: Order = "desc",
    order_by: OrderBy = "created_at",
) -> list[dict[str, Any]]:
    """Batches (all statuses), newest first by default."""
    return await LettaService(batch).list_batches(
        org, order=order, after=after, before=before, limit=limit
    )


@router.get("/messages/batches/{batch_id}", response_model=BatchJob)
async def retrieve_batch(batch_id: str, batch: Batch, org: Org) -> dict[str, Any]:
    return await LettaService(batch).get_batch(org, batch_id)


@router.patch("/messages/batches/{batch_id}/cancel", response_model=BatchJob)
async def cancel_batch(batch_id: str, batch: Batch, org: Org) -> dict[str, Any]:
    """Cancel unfinished runs and open provider batches (409 once the batch has ended)."""
    return await LettaService(batch).cancel_batch(org, batch_id)


@router.get("/messages/batches/{batch_id}/messages", response_model=BatchMessages)
async def list_batch_messages(
    batch_id: str,
    batch: Batch,
    org: Org,
    before: Cursor = None,
    after: Cursor = None,
    limit: Limit = 100,
    order: Order = "desc",
    order_by: OrderBy = "created_at",
    agent_id: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Messages the batch produced, each with the `batch_item_id` of its model call."""
    return await LettaService(batch).batch_messages(
        org, batch_id, agent_id=agent_id, order=order, after=after, before=before, limit=limit
    )
