"""The provider interface. Adapters stay small: polling cadence, retries, splitting and
per-item bookkeeping live once, in the runtime.

A provider turns neutral requests into its own request entries (``encode``), accepts a list
of entries as one batch (``submit`` returns an opaque handle), reports whether the batch has
ended (``poll``), streams per-item results (``results``), and cancels (``cancel``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agentbatch.domain.model_io import ItemResult, ModelRequest


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """Hard limits of one provider batch: request count and payload bytes."""

    max_requests: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class PollResult:
    """``ended`` is True once results can be read. ``counts`` is informational."""

    ended: bool
    status: str = ""
    counts: dict[str, int] = field(default_factory=dict)


@runtime_checkable
class BatchProvider(Protocol):
    """What the runtime needs from a provider. See module docstring."""

    name: str
    limits: BatchLimits

    def encode(self, custom_id: str, request: ModelRequest) -> dict[str, Any]:
        """The provider's request entry for one item (what is sent, byte for byte)."""
        ...

    async def submit(self, model: str, entries: Sequence[dict[str, Any]]) -> str:
        """Create one provider batch from ``encode``d entries; returns its handle.

        Raises ProviderError (``retryable`` set for network/5xx/429) on failure.
        """
        ...

    async def poll(self, handle: str) -> PollResult:
        """Raises UnknownBatch if the provider has no such batch."""
        ...

    def results(self, handle: str) -> AsyncIterator[ItemResult]:
        """Stream every item's result of an ended batch, in any order."""
        ...

    async def cancel(self, handle: str) -> None: ...

    async def cleanup(self, handle: str) -> None:
        """Release provider-side resources once results were ingested (files, etc.)."""
        ...

    async def aclose(self) -> None: ...
