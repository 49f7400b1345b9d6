"""agentbatch: stateful, tool-using LLM agents stepped through providers' batch APIs."""

from agentbatch.errors import AgentBatchError, InvalidInput, NotFound, ProviderError

__version__ = "0.1.0"

__all__ = ["AgentBatchError", "InvalidInput", "NotFound", "ProviderError", "__version__"]
