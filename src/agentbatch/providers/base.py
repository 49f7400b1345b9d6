"""The provider interface. Adapters stay small: polling cadence, retries, splitting and
per-item bookkeeping live once, in the runtime.

A provider turns neutral requests into its own request entries (``encode``), accepts a list
of entries as one batch (``submit`` returns an opaque handle), reports whether the batch has
ended (``poll``), streams per-item results (``results``), and cancels (``cancel``).

Every submit carries a :class:`BatchTag` (our provider-batch id and job id): providers that
keep metadata on a batch store it, so a provider's dashboard leads back to the job and
recovery can find a batch that was created but never recorded (``find_orphans``).
:class:`ProviderBase` gives the optional methods their neutral defaults.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
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


@dataclass(frozen=True, slots=True)
class BatchTag:
    """Whose provider batch this is. ``created_at`` is when the row was recorded (before the
    provider call) and ``requests`` how many requests it holds: what a provider without
    batch metadata can match an unrecorded batch on."""

    batch_id: str
    job_id: str
    created_at: datetime
    requests: int
    # when known, the provider batch was created before this (the creator's lease ended)
    created_before: datetime | None = None

    def metadata(self) -> dict[str, str]:
        return {"agentbatch_job": self.job_id, "agentbatch_batch": self.batch_id}


@runtime_checkable
class BatchProvider(Protocol):
    """What the runtime needs from a provider. See module docstring."""

    name: str
    limits: BatchLimits

    def encode(self, custom_id: str, request: ModelRequest) -> dict[str, Any]:
        """The provider's request entry for one item (what is sent, byte for byte)."""
        ...

    async def submit(
        self, model: str, entries: Sequence[dict[str, Any]], tag: BatchTag | None = None
    ) -> str:
        """Create one provider batch from ``encode``d entries; returns its handle.

        Raises ProviderError (``retryable`` set for network/5xx/429) on failure, ConfigError
        when a setting (key, base URL) is missing or invalid.
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

    async def find_orphans(self, tag: BatchTag) -> list[str]:
        """Handles of provider batches created for ``tag`` (a create whose answer was lost:
        the worker died or stalled between the provider call and recording it)."""
        ...

    def check_config(self) -> None:
        """Raise ConfigError naming the missing or invalid setting (no network)."""
        ...

    async def probe(self) -> None:
        """Check that the provider answers (a cheap authenticated call), else raise
        ConfigError or ProviderError. Providers without a server do nothing."""
        ...

    async def aclose(self) -> None: ...


class ProviderBase:
    """Neutral defaults for the optional parts of :class:`BatchProvider`.

    ``orphans_exact``: whether ``find_orphans`` matches a batch by the tag it carries
    (metadata, display name). Providers without batch metadata match by creation time and
    request count, which another worker's batch, created but not yet recorded, can match
    too: the runtime then waits until no such create is in flight."""

    orphans_exact = True

    async def cleanup(self, handle: str) -> None:
        return None

    async def find_orphans(self, tag: BatchTag) -> list[str]:
        return []

    def check_config(self) -> None:
        return None

    async def probe(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def check_config(provider: BatchProvider) -> None:
    """``provider.check_config()``, for providers written before it existed too."""
    check = getattr(provider, "check_config", None)
    if check is not None:
        check()


def orphans_exact(provider: BatchProvider) -> bool:
    return bool(getattr(provider, "orphans_exact", True))


async def find_orphans(provider: BatchProvider, tag: BatchTag) -> list[str]:
    """``provider.find_orphans(tag)``; a provider without it has no orphans to find."""
    find = getattr(provider, "find_orphans", None)
    return list(await find(tag)) if find is not None else []
