"""The out-of-transaction parts of the recall and archival memory tools (run by the tools
pass, ``runtime.tool_steps``): ``conversation_search_date`` (a read of the agent's own
history), ``archival_memory_search`` (embed the query, search the agent's archive) and
the embedding of an ``archival_memory_insert`` passage (its row is written in the apply
transaction). Reads see only the agent's own history and archive."""

from __future__ import annotations

from typing import Any

from agentbatch.domain.agents import AgentSpec
from agentbatch.embeddings import embedder_for, to_blob
from agentbatch.errors import AgentBatchError
from agentbatch.memory_settings import MemorySettings
from agentbatch.store import messages, passages
from agentbatch.store.db import Database
from agentbatch.tools.archival import (
    PAGE,
    PASSAGE_CHARS,
    message_hits,
    page_of,
    parse_when,
    passage_hits,
)
from agentbatch.tools.builtins import ToolResult

OUTSIDE = frozenset(
    {"conversation_search_date", "archival_memory_search", "archival_memory_insert"}
)


async def run_memory_tool_outside(
    db: Database,
    settings: MemorySettings,
    agent: AgentSpec,
    org_id: str,
    name: str,
    args: dict[str, Any],
) -> ToolResult:
    try:
        if name == "conversation_search_date":
            return await _search_dates(db, agent.id, args)
        if name == "archival_memory_search":
            return await _search_archive(db, settings, agent, org_id, args)
        if name == "archival_memory_insert":
            return await _embed_passage(settings, args)
    except (ValueError, AgentBatchError) as exc:
        return ToolResult(False, str(exc))
    raise KeyError(name)


async def _search_dates(db: Database, agent_id: str, args: dict[str, Any]) -> ToolResult:
    start = parse_when(args.get("start_date", ""), end=False)
    end = parse_when(args.get("end_date", ""), end=True)
    if end <= start:
        return ToolResult(False, "end_date must not be before start_date")
    page = page_of(args)
    async with db.read() as conn:
        rows = await messages.search_dates(
            conn, agent_id, start, end, offset=page * PAGE, limit=PAGE
        )
    if not rows:
        return ToolResult(
            True, f"No messages between {start.isoformat()} and {end.isoformat()} (page {page})."
        )
    return ToolResult(True, message_hits(rows))


async def _search_archive(
    db: Database, settings: MemorySettings, agent: AgentSpec, org_id: str, args: dict[str, Any]
) -> ToolResult:
    query = str(args.get("query", "")).strip()
    if not query:
        return ToolResult(False, "query must not be empty")
    page = page_of(args)
    embedder = embedder_for(settings.embedder)
    vector = (await embedder.embed([query]))[0]
    async with db.read() as conn:
        rows = await passages.search(
            conn,
            db,
            org_id=org_id,
            archive=passages.archive_of(agent.id, agent.archive),
            model=embedder.name,
            query=vector,
            offset=page * PAGE,
            limit=PAGE,
        )
    if not rows:
        return ToolResult(True, f"No passages in archival memory (page {page}).")
    return ToolResult(True, passage_hits(rows))


async def _embed_passage(settings: MemorySettings, args: dict[str, Any]) -> ToolResult:
    text = str(args.get("content", ""))
    if not text.strip():
        return ToolResult(False, "content must not be empty")
    if len(text) > PASSAGE_CHARS:
        return ToolResult(
            False, f"a passage holds at most {PASSAGE_CHARS} characters (got {len(text)})"
        )
    embedder = embedder_for(settings.embedder)
    vector = (await embedder.embed([text]))[0]
    return ToolResult(True, embedder.name, data=to_blob(vector))
