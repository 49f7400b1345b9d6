"""``local/``: batches answered by the embedded model in this process, no network, no key.

True batch semantics: ``submit`` returns at once and the items are answered in the
background, one after another, on the process's single local-model thread; ``poll`` reports
progress until every item has an outcome; ``results`` streams them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agentbatch.domain.model_io import ItemResult, ModelRequest
from agentbatch.errors import ProviderError
from agentbatch.providers.base import BatchLimits, BatchTag, PollResult, ProviderBase
from agentbatch.providers.local import engine
from agentbatch.providers.local.batches import REGISTRY, Batch, GenerateFn, Item
from agentbatch.providers.local.serialize import request_from_dict, request_to_dict

logger = logging.getLogger(__name__)

_RESULTS_CHUNK = 100


class LocalProvider(ProviderBase):
    """The ``local/`` provider. ``generate`` replaces the embedded model (for tests)."""

    name = "local"
    limits = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024)
    poll_interval_s = 0.25  # items finish in about a second each: poll often

    def __init__(self, generate: GenerateFn | None = None) -> None:
        self._generate: GenerateFn = generate or engine.generate
        self._uses_engine = generate is None
        self._closed = False
        REGISTRY.acquire()

    def encode(self, custom_id: str, request: ModelRequest) -> dict[str, Any]:
        return {"custom_id": custom_id, "request": request_to_dict(request)}

    async def submit(
        self, model: str, entries: Sequence[dict[str, Any]], tag: BatchTag | None = None
    ) -> str:
        if self._closed:
            raise ProviderError("the local provider is closed")
        if self._uses_engine:
            engine.ensure_available()  # ConfigError with an install hint
        items: list[Item] = []
        for i, entry in enumerate(entries):
            try:
                items.append(Item(str(entry["custom_id"]), request_from_dict(entry["request"])))
            except (KeyError, TypeError, ValueError) as exc:
                raise ProviderError(f"local batch entry {i} is malformed: {exc!r}") from exc
        handle = f"localbatch_{uuid.uuid4().hex}"
        REGISTRY.add(Batch(handle, items, self._generate))
        logger.info("local batch submitted", extra={"handle": handle, "items": len(items)})
        return handle

    async def live(self, entry: dict[str, Any]) -> ItemResult:
        """One request now: it goes ahead on the local model's thread like a batch of one
        (the model runs one request at a time)."""
        handle = await self.submit("live", [entry])
        batch = REGISTRY.get(handle)
        try:
            while True:
                with REGISTRY.lock:
                    if batch.ended():
                        break
                await asyncio.sleep(0.02)
            result = batch.items[0].result
            assert result is not None
            return result
        finally:
            REGISTRY.forget(handle)

    async def poll(self, handle: str) -> PollResult:
        batch = REGISTRY.get(handle)
        with REGISTRY.lock:
            ended = batch.ended()
            counts = batch.counts()
        status = "in_progress"
        if ended:
            status = "ended"
        elif batch.canceled.is_set():
            status = "canceling"
        return PollResult(ended=ended, status=status, counts=counts)

    async def results(self, handle: str) -> AsyncIterator[ItemResult]:
        batch = REGISTRY.get(handle)
        with REGISTRY.lock:
            if not batch.ended():
                raise ProviderError(f"local batch {handle} has not ended yet")
        for start in range(0, len(batch.items), _RESULTS_CHUNK):
            for item in batch.items[start : start + _RESULTS_CHUNK]:
                if item.result is not None:
                    yield item.result
            await asyncio.sleep(0)

    async def cancel(self, handle: str) -> None:
        REGISTRY.cancel(handle)
        logger.info("local batch canceled", extra={"handle": handle})

    async def cleanup(self, handle: str) -> None:
        REGISTRY.forget(handle)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(REGISTRY.release)
