"""``openai-compatible/`` models: any server with ``/v1/chat/completions`` (vLLM, llama.cpp
server, Ollama), given batch semantics.

A "batch" is executed in a background asyncio task as concurrent ``chat.completions``
calls, at most ``concurrency`` in flight across all of this provider's batches. ``submit``
returns a handle at once; ``poll`` reports progress and ends when every call has
answered; a call that fails is an ``errored`` item (the runtime retries it); ``cancel``
stops the batch and its unanswered items are ``canceled``. Handles live in this process
only: after a restart a handle is unknown (``UnknownBatch``) and the runtime counts its
items as expired and sends them again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import openai
from openai import AsyncOpenAI

from agentbatch.domain.model_io import ItemResult, ModelRequest, Outcome
from agentbatch.errors import ProviderError, UnknownBatch
from agentbatch.providers.base import BatchLimits, BatchTag, PollResult, ProviderBase
from agentbatch.providers.openai_wire import CHAT_PATH, decode_completion, encode_body

logger = logging.getLogger(__name__)


@dataclass
class _Run:
    entries: list[dict[str, Any]]
    results: dict[str, ItemResult] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    cancelled: bool = False


class OpenAICompatibleProvider(ProviderBase):
    """Chat completions at ``base_url`` (with ``/v1``), executed as concurrent calls."""

    name = "openai-compatible"
    poll_interval_s = 0.5  # calls run now, under a concurrency limit: poll often

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        concurrency: int = 8,
        *,
        timeout: float = 600.0,
        max_tokens_field: str = "max_tokens",
        max_batch_requests: int = 1_000,
    ) -> None:
        # Local servers usually need no key; the SDK insists on one.
        self._client = AsyncOpenAI(
            api_key=api_key or "not-needed", base_url=base_url, max_retries=0, timeout=timeout
        )
        self.limits = BatchLimits(max_requests=max_batch_requests, max_bytes=64 * 1024 * 1024)
        self._concurrency = max(1, concurrency)
        self._slots: asyncio.Semaphore | None = None
        self._max_tokens_field = max_tokens_field
        self._runs: dict[str, _Run] = {}

    def encode(self, custom_id: str, request: ModelRequest) -> dict[str, Any]:
        body = encode_body(request, max_tokens_field=self._max_tokens_field)
        return {"custom_id": custom_id, "method": "POST", "url": CHAT_PATH, "body": body}

    async def submit(
        self, model: str, entries: Sequence[dict[str, Any]], tag: BatchTag | None = None
    ) -> str:
        if not entries:
            raise ProviderError("cannot submit an empty batch")
        handle = f"ocb_{uuid.uuid4().hex}"
        run = _Run(list(entries))
        self._runs[handle] = run
        run.task = asyncio.create_task(self._execute(run), name=f"openai-compatible {handle}")
        logger.info(
            "openai-compatible batch started", extra={"handle": handle, "requests": len(entries)}
        )
        return handle

    async def _execute(self, run: _Run) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._concurrency)
        slots = self._slots
        pending = iter(run.entries)

        async def worker() -> None:
            for entry in pending:  # shared iterator: each entry is taken once
                async with slots:
                    result = await self._call(entry)
                run.results[result.custom_id] = result

        workers = min(self._concurrency, len(run.entries))
        await asyncio.gather(*(worker() for _ in range(workers)))

    async def _call(self, entry: dict[str, Any]) -> ItemResult:
        custom_id = str(entry["custom_id"])
        try:
            completion = await self._client.chat.completions.create(**entry["body"])
            return ItemResult(
                custom_id, Outcome.SUCCEEDED, response=decode_completion(completion.model_dump())
            )
        except openai.APIStatusError as exc:
            return ItemResult(
                custom_id, Outcome.ERRORED, error=f"HTTP {exc.status_code}: {exc.message}"
            )
        except openai.OpenAIError as exc:
            return ItemResult(custom_id, Outcome.ERRORED, error=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bad answer must never hang the batch
            logger.warning(
                "unusable chat completion", extra={"custom_id": custom_id}, exc_info=True
            )
            return ItemResult(custom_id, Outcome.ERRORED, error=f"unusable response: {exc}")

    async def live(self, entry: dict[str, Any]) -> ItemResult:
        """One call now (the same call a batch makes, outside any batch)."""
        return await self._call(entry)

    def _run(self, handle: str) -> _Run:
        run = self._runs.get(handle)
        if run is None:
            raise UnknownBatch(f"no openai-compatible batch {handle!r} in this process")
        return run

    async def poll(self, handle: str) -> PollResult:
        run = self._run(handle)
        ended = run.task is None or run.task.done()
        succeeded = sum(1 for r in run.results.values() if r.outcome == Outcome.SUCCEEDED)
        counts = {
            "total": len(run.entries),
            "completed": succeeded,
            "failed": len(run.results) - succeeded,
            "pending": len(run.entries) - len(run.results),
        }
        status = "ended" if ended else "cancelling" if run.cancelled else "in_progress"
        return PollResult(ended=ended, status=status, counts=counts)

    async def results(self, handle: str) -> AsyncIterator[ItemResult]:
        run = self._run(handle)
        if run.task is not None and not run.task.done():
            raise ProviderError(f"batch {handle!r} has not ended", retryable=True)
        for entry in run.entries:
            custom_id = str(entry["custom_id"])
            result = run.results.get(custom_id)
            if result is None:
                outcome = Outcome.CANCELED if run.cancelled else Outcome.ERRORED
                result = ItemResult(custom_id, outcome, error="the request was not answered")
            yield result

    async def cancel(self, handle: str) -> None:
        run = self._run(handle)
        run.cancelled = True
        if run.task is not None and not run.task.done():
            run.task.cancel()
            await asyncio.wait({run.task})

    async def cleanup(self, handle: str) -> None:
        self._runs.pop(handle, None)

    async def aclose(self) -> None:
        tasks = {r.task for r in self._runs.values() if r.task is not None and not r.task.done()}
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._runs.clear()
        await self._client.close()
