"""Letta's agent, memory-block and tool endpoints that batch scripts use (served under
``/letta/v1``): create / list / retrieve / delete / export agents, read and edit an agent's
blocks by label, shared blocks, and Python tools."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query

from agentbatch.api.deps import Batch, Org
from agentbatch.api.errors import ERROR_RESPONSES
from agentbatch.api.letta.models import (
    AgentState,
    BlockUpdate,
    CreateBlock,
    LettaBlock,
    LettaTool,
    ToolCreate,
)
from agentbatch.interop.letta.agents import CreateAgentBody, letta_block, letta_tool
from agentbatch.services.letta_api import LettaService

router = APIRouter(responses=ERROR_RESPONSES)
Limit = Annotated[int, Query(ge=1, le=1000, description="page size (1 to 1000)")]
Cursor = Annotated[str | None, Query(max_length=200)]
AGENTS: list[str | Enum] = ["letta: agents"]
BLOCKS: list[str | Enum] = ["letta: blocks"]
TOOLS: list[str | Enum] = ["letta: tools"]


@router.post("/agents/", response_model=AgentState, tags=AGENTS)
async def create_agent(body: CreateAgentBody, batch: Batch, org: Org) -> dict[str, Any]:
    """Letta's CreateAgent: `model`, `memory_blocks`, `block_ids`, `tools` / `tool_ids`,
    `include_base_tools`, `tool_rules`, `tags`, `message_buffer_autoclear`, `metadata`."""
    return await LettaService(batch).create_agent(org, body)


@router.get("/agents/", response_model=list[AgentState], tags=AGENTS)
async def list_agents(
    batch: Batch,
    org: Org,
    after: Cursor = None,
    limit: Limit = 50,
    name: Annotated[str | None, Query(max_length=200)] = None,
    tags: Annotated[list[str] | None, Query()] = None,
) -> list[dict[str, Any]]:
    """Agents in id order (`name` and `tags` filter the page)."""
    return await LettaService(batch).list_agents(
        org, limit=limit, after=after, name=name, tags=tags or []
    )


@router.get("/agents/{agent_id}", response_model=AgentState, tags=AGENTS)
async def retrieve_agent(agent_id: str, batch: Batch, org: Org) -> dict[str, Any]:
    return await LettaService(batch).get_agent(org, agent_id)


@router.delete("/agents/{agent_id}", response_model=None, tags=AGENTS)
async def delete_agent(agent_id: str, batch: Batch, org: Org) -> None:
    """Delete an agent and its history (409 while it is in an unfinished batch)."""
    await batch.agents.delete_agent(org, agent_id)


@router.get("/agents/{agent_id}/export", response_model=dict[str, Any], tags=AGENTS)
async def export_agent(agent_id: str, batch: Batch, org: Org) -> dict[str, Any]:
    """The agent as an Agent File (v2)."""
    return await batch.agent_files.export_agents(org, [agent_id])


@router.get("/agents/{agent_id}/core-memory/blocks", response_model=list[LettaBlock], tags=AGENTS)
async def list_agent_blocks(agent_id: str, batch: Batch, org: Org) -> list[dict[str, Any]]:
    agent = await batch.agents.get_agent(org, agent_id)
    return [letta_block(b) for b in agent["blocks"]]


@router.get(
    "/agents/{agent_id}/core-memory/blocks/{block_label}", response_model=LettaBlock, tags=AGENTS
)
async def retrieve_agent_block(
    agent_id: str, block_label: str, batch: Batch, org: Org
) -> dict[str, Any]:
    return letta_block(await LettaService(batch).agent_block(org, agent_id, block_label))


@router.patch(
    "/agents/{agent_id}/core-memory/blocks/{block_label}", response_model=LettaBlock, tags=AGENTS
)
async def modify_agent_block(
    agent_id: str, block_label: str, body: BlockUpdate, batch: Batch, org: Org
) -> dict[str, Any]:
    """Edit the agent's block with this label (shared blocks change for every agent)."""
    block = await LettaService(batch).agent_block(org, agent_id, block_label)
    return letta_block(await batch.agents.update_block(org, block["id"], body.ours()))


@router.post("/blocks/", response_model=LettaBlock, tags=BLOCKS)
async def create_block(body: CreateBlock, batch: Batch, org: Org) -> dict[str, Any]:
    """A block agents can share (attach it with `block_ids` when creating them)."""
    spec = {
        "label": body.label,
        "value": body.value,
        "limit": body.limit,
        "description": body.description or "",
        "read_only": body.read_only,
    }
    return letta_block(await batch.agents.create_block(org, spec))


@router.get("/blocks/", response_model=list[LettaBlock], tags=BLOCKS)
async def list_blocks(
    batch: Batch,
    org: Org,
    label: Annotated[str | None, Query(max_length=100)] = None,
    after: Cursor = None,
    limit: Limit = 50,
) -> list[dict[str, Any]]:
    rows = await batch.agents.list_blocks(org, label=label, limit=limit, after=after)
    return [letta_block(b) for b in rows]


@router.get("/blocks/{block_id}", response_model=LettaBlock, tags=BLOCKS)
async def retrieve_block(block_id: str, batch: Batch, org: Org) -> dict[str, Any]:
    return letta_block(await batch.agents.get_block(org, block_id))


@router.patch("/blocks/{block_id}", response_model=LettaBlock, tags=BLOCKS)
async def modify_block(block_id: str, body: BlockUpdate, batch: Batch, org: Org) -> dict[str, Any]:
    return letta_block(await batch.agents.update_block(org, block_id, body.ours()))


@router.delete("/blocks/{block_id}", response_model=None, tags=BLOCKS)
async def delete_block(block_id: str, batch: Batch, org: Org) -> None:
    await batch.agents.delete_block(org, block_id)


@router.post("/tools/", response_model=LettaTool, tags=TOOLS)
async def create_tool(body: ToolCreate, batch: Batch, org: Org) -> dict[str, Any]:
    """A Python tool from `source_code` (its schema is derived from the source)."""
    return await LettaService(batch).create_tool(org, body.model_dump())


@router.get("/tools/", response_model=list[LettaTool], tags=TOOLS)
async def list_tools(batch: Batch, org: Org) -> list[dict[str, Any]]:
    """Built-in and custom tools (built-ins have ids `tool-builtin-<name>`)."""
    return [letta_tool(t) for t in await batch.tools.list_tools(org)]


@router.get("/tools/{tool_id}", response_model=LettaTool, tags=TOOLS)
async def retrieve_tool(tool_id: str, batch: Batch, org: Org) -> dict[str, Any]:
    return letta_tool(await LettaService(batch).find_tool(org, tool_id))


@router.delete("/tools/{tool_id}", response_model=None, tags=TOOLS)
async def delete_tool(tool_id: str, batch: Batch, org: Org) -> None:
    """Delete a custom tool (409 while agents use it)."""
    tool = await LettaService(batch).find_tool(org, tool_id)
    await batch.tools.delete_tool(org, tool["name"])
