"""The ``google/`` provider: Gemini Batch Mode through the official ``google-genai`` SDK."""

from agentbatch.providers.google.decoding import decode_line, decode_response
from agentbatch.providers.google.encoding import encode_contents, encode_request
from agentbatch.providers.google.errors import map_error
from agentbatch.providers.google.provider import GoogleBatchProvider

__all__ = [
    "GoogleBatchProvider",
    "decode_line",
    "decode_response",
    "encode_contents",
    "encode_request",
    "map_error",
]
