"""Agent File (``.af``) import and export: Letta's format, our agents."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from agentbatch.api.deps import Batch, Org
from agentbatch.api.errors import ERROR_RESPONSES

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, tags=["agent files"])


class ImportedAgent(BaseModel):
    file_id: str
    id: str
    name: str
    model: str
    tools: list[str]
    blocks: list[str]
    messages: int
    in_context: int


class ImportedTools(BaseModel):
    created: list[str]
    reused: list[str]


class ImportReport(BaseModel):
    agents: list[ImportedAgent]
    blocks: int
    shared_blocks: int
    tools: ImportedTools
    mapped: list[str] = Field(description="what was carried over under another name or form")
    not_imported: list[str] = Field(description="what could not be carried over, and why")


class ExportRequest(BaseModel):
    agent_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=10_000
    )


@router.post("/agents/import", status_code=201, response_model=ImportReport)
async def import_agent_file(
    batch: Batch,
    org: Org,
    body: Annotated[dict[str, Any], Body(description="a Letta Agent File (v2)")],
    model: Annotated[
        str | None, Query(max_length=200, description="use this model for every agent")
    ] = None,
    strict: Annotated[bool, Query(description="refuse files with anything unmappable")] = False,
) -> dict[str, Any]:
    """Create the file's agents, blocks, tools and histories in one transaction. The report
    lists what was mapped and what was not imported; a bad file is a 422 naming the first
    bad field."""
    return await batch.agent_files.import_file(org, body, model=model, strict=strict)


@router.post("/agents/export", response_model=dict[str, Any])
async def export_agent_file(body: ExportRequest, batch: Batch, org: Org) -> dict[str, Any]:
    """These agents (blocks, tools, rules, full histories) as one Agent File."""
    return await batch.agent_files.export_agents(org, body.agent_ids)


@router.get("/agents/{agent_id}/export", response_model=dict[str, Any])
async def export_agent(agent_id: str, batch: Batch, org: Org) -> dict[str, Any]:
    """One agent as an Agent File."""
    return await batch.agent_files.export_agents(org, [agent_id])
