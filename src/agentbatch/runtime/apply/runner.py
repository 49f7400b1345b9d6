"""Runs one item's checked tool calls during planning: memory tools on the workspace,
``send_message`` at once, out-of-transaction tools from their results (None when missing:
the planner returns the call as pending). ``archival_memory_insert``'s outside part is
its embedding (``ToolResult.data``, the embedder's name in ``output``); its passage row
is written by the apply transaction, exactly once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentbatch.domain.agents import AgentSpec
from agentbatch.domain.messages import ToolCall
from agentbatch.step.workspace import MemoryWorkspace
from agentbatch.store.passages import archive_of
from agentbatch.tools.builtins import (
    MEMORY_TOOLS,
    ToolResult,
    run_memory_tool,
    send_message_result,
)

ToolKey = tuple[str, ToolCall]  # (item id, call)


class Runner:
    """Runs one item's checked calls: memory tools on the workspace, ``send_message`` at
    once, outside tools from ``results`` (None when missing)."""

    def __init__(
        self,
        item_id: str,
        ws: MemoryWorkspace,
        results: Mapping[ToolKey, ToolResult],
        passage: dict[str, Any] | None = None,
    ) -> None:
        self.item_id, self.ws, self.results = item_id, ws, results
        self.passage = passage or {}  # the columns of a passage this step inserts
        self.passages: list[dict[str, Any]] = []

    def run(self, agent: AgentSpec, call: ToolCall, args: dict[str, Any]) -> ToolResult | None:
        if call.name in MEMORY_TOOLS:
            return run_memory_tool(call.name, args, agent.id, self.ws)
        if call.name == "send_message":
            return send_message_result(args)
        found = self.results.get((self.item_id, call))
        if call.name == "archival_memory_insert" and found is not None and found.ok:
            if found.data is None:
                return ToolResult(False, "the passage could not be embedded")
            text = str(args.get("content", ""))
            self.passages.append(
                {
                    **self.passage,
                    "archive": archive_of(agent.id, agent.archive),
                    "text": text,
                    "embedding_model": found.output,
                    "embedding": found.data,
                }
            )
            return ToolResult(True, f"Stored in archival memory ({len(text)} characters).")
        return found
