"""The ``anthropic/`` provider: Anthropic Message Batches through the official SDK."""

from agentbatch.providers.anthropic.decoding import decode_line, decode_message
from agentbatch.providers.anthropic.encoding import encode_messages, encode_params
from agentbatch.providers.anthropic.provider import AnthropicBatchProvider, map_error

__all__ = [
    "AnthropicBatchProvider",
    "decode_line",
    "decode_message",
    "encode_messages",
    "encode_params",
    "map_error",
]
