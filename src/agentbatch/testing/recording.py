"""A provider wrapper that records every request it is asked to encode: tests use it to
check what the model saw (the system message with memory, the context window, tools)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agentbatch.domain.model_io import ItemResult, ModelRequest
from agentbatch.providers.base import BatchProvider, BatchTag, PollResult


class RecordingProvider:
    def __init__(self, inner: BatchProvider) -> None:
        self.inner = inner
        self.name = inner.name
        self.limits = inner.limits
        self.requests: dict[str, list[ModelRequest]] = defaultdict(list)
        self.submits: list[tuple[str, int]] = []
        self.lives: list[str] = []  # custom_ids answered through the live API
        self.poll_interval_s = getattr(inner, "poll_interval_s", None)
        self.orphans_exact = getattr(inner, "orphans_exact", True)

    def encode(self, custom_id: str, request: ModelRequest) -> dict[str, Any]:
        self.requests[request.agent_id].append(request)
        return self.inner.encode(custom_id, request)

    async def submit(
        self, model: str, entries: Sequence[dict[str, Any]], tag: BatchTag | None = None
    ) -> str:
        handle = await self.inner.submit(model, entries, tag)
        self.submits.append((handle, len(entries)))
        return handle

    def has_live(self) -> bool:
        from agentbatch.providers.live import live_api

        return live_api(self.inner) is not None

    async def live(self, entry: dict[str, Any]) -> ItemResult:
        from agentbatch.providers.live import live_api

        call = live_api(self.inner)
        assert call is not None, "the wrapped provider has no live API"
        self.lives.append(str(entry["custom_id"]))
        return await call(entry)

    async def poll(self, handle: str) -> PollResult:
        return await self.inner.poll(handle)

    def results(self, handle: str) -> AsyncIterator[ItemResult]:
        return self.inner.results(handle)

    async def cancel(self, handle: str) -> None:
        await self.inner.cancel(handle)

    async def cleanup(self, handle: str) -> None:
        await self.inner.cleanup(handle)

    async def find_orphans(self, tag: BatchTag) -> list[str]:
        return await self.inner.find_orphans(tag)

    def check_config(self) -> None:
        self.inner.check_config()

    async def probe(self) -> None:
        await self.inner.probe()

    async def aclose(self) -> None:
        await self.inner.aclose()
