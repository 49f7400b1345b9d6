"""Providers' live APIs: one request answered now instead of in a batch (Anthropic
Messages, OpenAI chat completions or Responses, OpenAI-compatible servers, the local and
scripted models). A provider offers one with ``async def live(entry) -> ItemResult``,
taking the entry its ``encode`` made; a wrapper may add ``has_live()`` to say whether the
provider it wraps has one. A refused request comes back as an errored ``ItemResult``;
network errors, 429 and 5xx raise ``ProviderError`` (``retryable``) for the runtime's
retries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agentbatch.domain.model_io import ItemResult

LiveCall = Callable[[dict[str, Any]], Awaitable[ItemResult]]


def live_api(provider: object) -> LiveCall | None:
    """The provider's live call, or None when it only has a batch API."""
    call = getattr(provider, "live", None)
    if not callable(call):
        return None
    has = getattr(provider, "has_live", None)
    if callable(has) and not has():
        return None
    return call
