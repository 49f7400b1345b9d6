"""Change agents and tools after creation: PATCH, and attach / detach sub-resources.

A change reaches the agent's next model request; a step already sent finishes as sent."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from agentbatch.api.deps import Batch, Org
from agentbatch.api.errors import ERROR_RESPONSES
from agentbatch.api.models import Agent, Message, Page, Tool
from agentbatch.api.routes import LIMIT_DESCRIPTION
from agentbatch.errors import InvalidInput
from agentbatch.schemas import AgentUpdate, ToolUpdate

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
Limit = Annotated[int, Query(ge=1, le=1000, description=LIMIT_DESCRIPTION)]
Cursor = Annotated[str | None, Query(max_length=30, description="`next_cursor` of a page")]
Id = Annotated[str, Path(max_length=200)]


@router.patch("/agents/{agent_id}", response_model=Agent, tags=["agents"])
async def update_agent(agent_id: Id, body: AgentUpdate, batch: Batch, org: Org) -> dict[str, Any]:
    """Change the given fields (system, model, model_settings, tools, tool_rules, tags,
    name, metadata, message_buffer_autoclear); lists replace the agent's lists."""
    return await batch.agent_edits.update_agent(org, agent_id, body)


@router.post("/agents/{agent_id}/blocks/{block_id}", response_model=Agent, tags=["agents"])
async def attach_block(agent_id: Id, block_id: Id, batch: Batch, org: Org) -> dict[str, Any]:
    """Attach an existing block (409 when attached already or its label is taken)."""
    return await batch.agent_edits.attach_block(org, agent_id, block_id)


@router.delete("/agents/{agent_id}/blocks/{block_id}", response_model=Agent, tags=["agents"])
async def detach_block(agent_id: Id, block_id: Id, batch: Batch, org: Org) -> dict[str, Any]:
    """Detach a block; the block itself stays (DELETE /v1/blocks/{id} removes it)."""
    return await batch.agent_edits.detach_block(org, agent_id, block_id)


@router.post("/agents/{agent_id}/tools/{name}", response_model=Agent, tags=["agents"])
async def attach_tool(agent_id: Id, name: Id, batch: Batch, org: Org) -> dict[str, Any]:
    """Give the agent a built-in or custom tool."""
    return await batch.agent_edits.attach_tool(org, agent_id, name)


@router.delete("/agents/{agent_id}/tools/{name}", response_model=Agent, tags=["agents"])
async def detach_tool(agent_id: Id, name: Id, batch: Batch, org: Org) -> dict[str, Any]:
    """Take a tool away (409 while the agent's tool rules name it)."""
    return await batch.agent_edits.detach_tool(org, agent_id, name)


@router.get("/agents/{agent_id}/messages", response_model=Page[Message], tags=["agents"])
async def agent_messages(
    agent_id: Id, batch: Batch, org: Org, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    """The agent's transcript across every job, in history order."""
    if cursor is not None and not (cursor.isascii() and cursor.isdigit()):
        raise InvalidInput("cursor must be the `next_cursor` of a messages page (a message id)")
    rows, more = await batch.results.agent_messages(
        org, agent_id, after=int(cursor) if cursor else None, limit=limit
    )
    return {
        "data": rows,
        "has_more": bool(more),
        "next_cursor": str(rows[-1]["id"]) if rows else None,
    }


@router.patch("/tools/{name}", response_model=Tool, tags=["tools"])
async def update_tool(name: Id, body: ToolUpdate, batch: Batch, org: Org) -> dict[str, Any]:
    """Change a custom tool (new source keeps the function's name); `env` entries set to
    null are removed. Environment values are never returned."""
    return await batch.tools.update_tool(org, name, body)
