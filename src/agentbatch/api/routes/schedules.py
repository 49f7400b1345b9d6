"""Schedules (cron fires that create jobs) and saved agent selectors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from agentbatch.api.deps import Batch, Org
from agentbatch.api.errors import ERROR_RESPONSES
from agentbatch.api.models import Page
from agentbatch.api.routes import LIMIT_DESCRIPTION, page
from agentbatch.api.schedule_models import Schedule, Selector
from agentbatch.schemas import ScheduleCreate, SelectorCreate

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
Limit = Annotated[int, Query(ge=1, le=1000, description=LIMIT_DESCRIPTION)]
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of a page")]
Name = Annotated[str, Path(max_length=200)]


@router.post("/schedules", status_code=201, response_model=Schedule, tags=["schedules"])
async def create_schedule(body: ScheduleCreate, batch: Batch, org: Org) -> dict[str, Any]:
    """A cron schedule that creates a job for the selected agents at each fire (workers
    fire it, exactly once per fire time across all workers)."""
    return await batch.schedules.create_schedule(org, body)


@router.get("/schedules", response_model=Page[Schedule], tags=["schedules"])
async def list_schedules(
    batch: Batch, org: Org, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    rows = await batch.schedules.list_schedules(org, limit=limit + 1, after=cursor)
    return page(rows, limit)


@router.get("/schedules/{schedule_id}", response_model=Schedule, tags=["schedules"])
async def get_schedule(schedule_id: Name, batch: Batch, org: Org) -> dict[str, Any]:
    """The schedule, its next fire times and its last fires with their jobs."""
    return await batch.schedules.get_schedule(org, schedule_id)


@router.post("/schedules/{schedule_id}/pause", response_model=Schedule, tags=["schedules"])
async def pause_schedule(schedule_id: Name, batch: Batch, org: Org) -> dict[str, Any]:
    """No fire while paused (409 when already paused)."""
    return await batch.schedules.pause_schedule(org, schedule_id)


@router.post("/schedules/{schedule_id}/resume", response_model=Schedule, tags=["schedules"])
async def resume_schedule(schedule_id: Name, batch: Batch, org: Org) -> dict[str, Any]:
    """Fire again from the next cron time on (nothing is owed for the pause)."""
    return await batch.schedules.resume_schedule(org, schedule_id)


@router.delete(
    "/schedules/{schedule_id}", status_code=204, response_class=Response, tags=["schedules"]
)
async def delete_schedule(schedule_id: Name, batch: Batch, org: Org) -> Response:
    """Delete the schedule and its fire records (its jobs stay)."""
    await batch.schedules.delete_schedule(org, schedule_id)
    return Response(status_code=204)


@router.post("/selectors", status_code=201, response_model=Selector, tags=["selectors"])
async def create_selector(body: SelectorCreate, batch: Batch, org: Org) -> dict[str, Any]:
    """Name a set of agents (ids, tags, model) for jobs and schedules (`selector`)."""
    return await batch.selectors.create_selector(org, body)


@router.get("/selectors", response_model=Page[Selector], tags=["selectors"])
async def list_selectors(batch: Batch, org: Org, limit: Limit = 1000) -> dict[str, Any]:
    rows = await batch.selectors.list_selectors(org, limit=limit + 1)
    return page(rows, limit)


@router.get("/selectors/{name}", response_model=Selector, tags=["selectors"])
async def get_selector(name: Name, batch: Batch, org: Org) -> dict[str, Any]:
    """The selector and how many agents match it now."""
    return await batch.selectors.get_selector(org, name)


@router.delete("/selectors/{name}", status_code=204, response_class=Response, tags=["selectors"])
async def delete_selector(name: Name, batch: Batch, org: Org) -> Response:
    await batch.selectors.delete_selector(org, name)
    return Response(status_code=204)
