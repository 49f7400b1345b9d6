"""What a response's tool calls need: memory, or tools that run outside the transaction."""

from __future__ import annotations

from agentbatch.domain.model_io import ItemResult
from agentbatch.tools.builtins import ASYNC_BUILTINS, BUILTIN_SPECS, MEMORY_TOOLS


def needs_outside_tools(result: ItemResult) -> bool:
    """Whether the response calls a tool that runs outside the apply transaction (a
    custom tool in the sandbox, ``conversation_search``)."""
    if result.response is None:
        return False
    return any(
        c.name not in BUILTIN_SPECS or c.name in ASYNC_BUILTINS for c in result.response.tool_calls
    )


def touches_memory(result: ItemResult) -> bool:
    """Memory tools read and write blocks; custom tools may receive a copy of them."""
    if result.response is None:
        return False
    return any(
        c.name in MEMORY_TOOLS or c.name not in BUILTIN_SPECS for c in result.response.tool_calls
    )
