"""The ``anthropic/`` provider; it lives in :mod:`agentbatch.providers.anthropic`."""

from agentbatch.providers.anthropic import AnthropicBatchProvider

__all__ = ["AnthropicBatchProvider"]
