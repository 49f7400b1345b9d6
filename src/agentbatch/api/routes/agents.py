"""Agents and memory blocks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from agentbatch.api.deps import Batch, Org
from agentbatch.api.errors import ERROR_RESPONSES
from agentbatch.api.models import Agent, Block, Page
from agentbatch.api.routes import LIMIT_DESCRIPTION, page
from agentbatch.schemas import AgentCreate, BlockCreate, BlockUpdate

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
Limit = Annotated[int, Query(ge=1, le=1000, description=LIMIT_DESCRIPTION)]
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of a page")]


@router.post("/agents", status_code=201, response_model=Agent, tags=["agents"])
async def create_agent(body: AgentCreate, batch: Batch, org: Org) -> dict[str, Any]:
    """Create an agent with its private blocks, shared blocks, tools and tool rules.

    The `scripted/` test model is refused unless the operator set
    `AGENTBATCH_ALLOW_SCRIPTED=1`."""
    return await batch.agents.create_agent(org, body)


@router.get("/agents", response_model=Page[Agent], tags=["agents"])
async def list_agents(
    batch: Batch,
    org: Org,
    limit: Limit = 100,
    cursor: Cursor = None,
    tag: Annotated[
        list[Annotated[str, Query(min_length=1, max_length=200)]] | None,
        Query(max_length=32, description="only agents carrying this tag (repeat for several)"),
    ] = None,
) -> dict[str, Any]:
    """Agents in id order (with `tag`, only those carrying every tag given)."""
    rows = await batch.agents.list_agents(org, limit=limit + 1, after=cursor, tags=tag)
    return page(rows, limit)


@router.get("/agents/{agent_id}", response_model=Agent, tags=["agents"])
async def get_agent(agent_id: str, batch: Batch, org: Org, context: bool = False) -> dict[str, Any]:
    """The agent; ``context=true`` adds its context window's token budget."""
    return await batch.agents.get_agent(org, agent_id, context=context)


@router.delete("/agents/{agent_id}", status_code=204, response_class=Response, tags=["agents"])
async def delete_agent(agent_id: str, batch: Batch, org: Org) -> Response:
    """Delete an agent and its history (409 while it is in an unfinished job)."""
    await batch.agents.delete_agent(org, agent_id)
    return Response(status_code=204)


@router.post("/blocks", status_code=201, response_model=Block, tags=["blocks"])
async def create_block(body: BlockCreate, batch: Batch, org: Org) -> dict[str, Any]:
    """Create a block that agents can share (attach it with `block_ids`)."""
    return await batch.agents.create_block(org, body)


@router.get("/blocks", response_model=Page[Block], tags=["blocks"])
async def list_blocks(
    batch: Batch,
    org: Org,
    label: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    rows = await batch.agents.list_blocks(org, label=label, limit=limit + 1, after=cursor)
    return page(rows, limit)


@router.get("/blocks/{block_id}", response_model=Block, tags=["blocks"])
async def get_block(block_id: str, batch: Batch, org: Org) -> dict[str, Any]:
    return await batch.agents.get_block(org, block_id)


@router.patch("/blocks/{block_id}", response_model=Block, tags=["blocks"])
async def update_block(block_id: str, body: BlockUpdate, batch: Batch, org: Org) -> dict[str, Any]:
    """Change a block's value, limit, description or read-only flag."""
    return await batch.agents.update_block(org, block_id, body)


@router.delete("/blocks/{block_id}", status_code=204, response_class=Response, tags=["blocks"])
async def delete_block(block_id: str, batch: Batch, org: Org) -> Response:
    """Delete a block (409 while agents use it)."""
    await batch.agents.delete_block(org, block_id)
    return Response(status_code=204)
