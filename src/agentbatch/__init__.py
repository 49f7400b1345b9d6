"""agentbatch: stateful, tool-using LLM agents stepped through providers' batch APIs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentbatch.errors import AgentBatchError, InvalidInput, NotFound, ProviderError

if TYPE_CHECKING:
    from agentbatch.app import AgentBatch

__version__ = "0.1.0"

__all__ = [
    "AgentBatch",
    "AgentBatchError",
    "InvalidInput",
    "NotFound",
    "ProviderError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name == "AgentBatch":  # imported lazily: the CLI should not pay for it at startup
        from agentbatch.app import AgentBatch

        return AgentBatch
    raise AttributeError(name)
