"""Custom Python tools (built-in tools are listed too, with a null id)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from agentbatch.api.deps import Batch, Org
from agentbatch.api.errors import ERROR_RESPONSES, ErrorResponse
from agentbatch.api.models import Page, Tool
from agentbatch.schemas import ToolCreate

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, tags=["tools"])


@router.post(
    "/tools",
    status_code=201,
    response_model=Tool,
    responses={403: {"model": ErrorResponse, "description": "custom tools are disabled"}},
)
async def create_tool(body: ToolCreate, batch: Batch, org: Org) -> dict[str, Any]:
    """Register a Python function as a tool; its JSON schema is derived from the source.

    Refused (403) on a server that cannot isolate tools (no bubblewrap) unless the
    operator allowed it; refused (422) when the tool asks for more time or memory than
    the operator's maximum, or for network access the operator does not allow."""
    return await batch.tools.create_tool(org, body)


@router.get("/tools", response_model=Page[Tool])
async def list_tools(batch: Batch, org: Org) -> dict[str, Any]:
    """Every tool an agent of this organisation can use (one page)."""
    tools = await batch.tools.list_tools(org)
    return {"data": tools, "has_more": False, "next_cursor": None}


@router.get("/tools/{name}", response_model=Tool)
async def get_tool(name: str, batch: Batch, org: Org) -> dict[str, Any]:
    return await batch.tools.get_tool(org, name)


@router.delete("/tools/{name}", status_code=204, response_class=Response)
async def delete_tool(name: str, batch: Batch, org: Org) -> Response:
    """Delete a custom tool (409 while agents use it)."""
    await batch.tools.delete_tool(org, name)
    return Response(status_code=204)
