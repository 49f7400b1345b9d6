"""``openai/`` models through the OpenAI Batch API (official ``openai`` SDK).

A submit writes the entries as JSONL to a temporary file (streamed, never one big
string), uploads it (purpose ``batch``) and creates a batch with the 24 h window; the handle
is the batch id. Agents whose model settings say ``endpoint: responses`` go to
``/v1/responses`` (see :mod:`agentbatch.providers.openai_responses`); a batch file holds one
endpoint, so a submit that mixes both creates one batch per endpoint and its handle joins
their ids with ``+`` (poll, results, cancel and cleanup act on each). Results are streamed line by line from the
output and error files. A batch that ``failed`` as a whole (input-file validation) reports
every request of its input file as errored with the batch's error. The SDK does not retry
(``max_retries=0``): the runtime retries centrally from ``ProviderError.retryable``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import openai
from openai import AsyncOpenAI

from agentbatch.domain.model_io import ItemResult, ModelRequest, Outcome
from agentbatch.errors import ConfigError, ProviderError, UnknownBatch
from agentbatch.providers.anthropic.provider import ORPHAN_SKEW, check_base_url
from agentbatch.providers.base import BatchLimits, BatchTag, PollResult, ProviderBase
from agentbatch.providers.openai_files import (
    failed_results,
    parse_result_line,
    records,
    write_jsonl,
)
from agentbatch.providers.openai_responses import (
    RESPONSES_PATH,
    decode_response,
    encode_responses_body,
    wants_responses,
)
from agentbatch.providers.openai_wire import (
    CHAT_PATH,
    decode_completion,
    encode_body,
    provider_error,
)

logger = logging.getLogger(__name__)

ENDED = frozenset({"completed", "failed", "expired", "cancelled"})


class OpenAIBatchProvider(ProviderBase):
    """The OpenAI Batch API. ``api_key`` / ``base_url`` default to ``OPENAI_API_KEY`` /
    ``OPENAI_BASE_URL`` (the base URL includes ``/v1``)."""

    name = "openai"
    limits = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)

    def __init__(
        self, api_key: str | None = None, base_url: str | None = None, *, timeout: float = 120.0
    ) -> None:
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise ConfigError("OPENAI_API_KEY is not set (openai/ models need an API key)")
        url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        if url is not None:
            check_base_url(url, "OPENAI_BASE_URL")
        self._client = AsyncOpenAI(api_key=key, base_url=url, max_retries=0, timeout=timeout)

    def encode(self, custom_id: str, request: ModelRequest) -> dict[str, Any]:
        if wants_responses(request):
            body = encode_responses_body(request)
            return {"custom_id": custom_id, "method": "POST", "url": RESPONSES_PATH, "body": body}
        body = encode_body(request, cache_key=True)
        return {"custom_id": custom_id, "method": "POST", "url": CHAT_PATH, "body": body}

    async def live(self, entry: dict[str, Any]) -> ItemResult:
        """Answer one encoded entry now through chat completions (or the Responses API)."""
        custom_id = str(entry["custom_id"])
        try:
            if entry.get("url") == RESPONSES_PATH:
                answer = await self._client.responses.create(**entry["body"])
                response = decode_response(answer.model_dump())
            else:
                completion = await self._client.chat.completions.create(**entry["body"])
                response = decode_completion(completion.model_dump())
        except openai.APIStatusError as exc:
            error = provider_error(exc, "live request")
            if error.retryable or isinstance(error, ConfigError):
                raise error from exc
            return ItemResult(custom_id, Outcome.ERRORED, error=str(error), retryable=False)
        except openai.OpenAIError as exc:
            raise provider_error(exc, "live request") from exc
        except (ValueError, TypeError, AttributeError) as exc:
            return ItemResult(custom_id, Outcome.ERRORED, error=f"unreadable answer: {exc}")
        return ItemResult(custom_id, Outcome.SUCCEEDED, response=response)

    async def probe(self) -> None:
        try:
            await self._client.batches.list(limit=1)
        except openai.OpenAIError as exc:
            raise provider_error(exc, "batch list") from exc

    async def submit(
        self, model: str, entries: Sequence[dict[str, Any]], tag: BatchTag | None = None
    ) -> str:
        if not entries:
            raise ProviderError("cannot submit an empty batch")
        by_url: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            by_url.setdefault(str(entry.get("url") or CHAT_PATH), []).append(entry)
        handles: list[str] = []
        try:
            for url, group in by_url.items():
                handles.append(await self._submit_one(model, url, group, tag))
        except ProviderError:
            for handle in handles:  # the part already created must not run unrecorded
                try:
                    await self._cancel_one(handle)
                except ProviderError as exc:
                    logger.warning("could not cancel %s: %s", handle, exc)
            raise
        return "+".join(handles)

    async def _submit_one(
        self, model: str, endpoint: str, entries: Sequence[dict[str, Any]], tag: BatchTag | None
    ) -> str:
        path = await asyncio.to_thread(write_jsonl, entries)
        try:
            size = path.stat().st_size
            if size > self.limits.max_bytes:
                raise ProviderError(
                    f"batch input is {size} bytes, over the {self.limits.max_bytes} limit"
                )
            with path.open("rb") as handle:
                upload = ("agentbatch-input.jsonl", handle, "application/jsonl")
                uploaded = await self._client.files.create(file=upload, purpose="batch")
        except openai.OpenAIError as exc:
            raise provider_error(exc, "file upload") from exc
        finally:
            path.unlink(missing_ok=True)
        try:
            batch = await self._client.batches.create(
                input_file_id=uploaded.id,
                endpoint=endpoint,  # type: ignore[arg-type]
                completion_window="24h",
                metadata={
                    "source": "agentbatch",
                    "model": model[:512],
                    **(tag.metadata() if tag is not None else {}),
                },
            )
        except openai.OpenAIError as exc:
            await self._delete_quietly(uploaded.id)
            raise provider_error(exc, "batch create") from exc
        logger.info(
            "openai batch submitted",
            extra={"batch_id": batch.id, "requests": len(entries), "bytes": size, "model": model},
        )
        return batch.id

    async def _retrieve(self, handle: str) -> Any:
        try:
            return await self._client.batches.retrieve(handle)
        except openai.NotFoundError as exc:
            raise UnknownBatch(f"OpenAI has no batch {handle!r}") from exc
        except openai.OpenAIError as exc:
            raise provider_error(exc, "batch retrieve") from exc

    async def poll(self, handle: str) -> PollResult:
        polls = [await self._poll_one(h) for h in handle.split("+")]
        if len(polls) == 1:
            return polls[0]
        counts: dict[str, int] = {}
        for poll in polls:
            for key, value in poll.counts.items():
                counts[key] = counts.get(key, 0) + int(value or 0)
        return PollResult(
            ended=all(p.ended for p in polls),
            status="+".join(p.status for p in polls),
            counts=counts,
        )

    async def _poll_one(self, handle: str) -> PollResult:
        batch = await self._retrieve(handle)
        counts = batch.request_counts
        return PollResult(
            ended=batch.status in ENDED,
            status=batch.status,
            counts=counts.model_dump() if counts is not None else {},
        )

    async def results(self, handle: str) -> AsyncIterator[ItemResult]:
        for one in handle.split("+"):
            async for result in self._results_one(one):
                yield result

    async def _results_one(self, handle: str) -> AsyncIterator[ItemResult]:
        batch = await self._retrieve(handle)
        if batch.status == "failed":
            async for result in failed_results(self._client, batch):
                yield result
            return
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            async for record in records(self._client, file_id):
                parsed = parse_result_line(record)
                if parsed is not None:
                    yield parsed

    async def cancel(self, handle: str) -> None:
        for one in handle.split("+"):
            await self._cancel_one(one)

    async def _cancel_one(self, handle: str) -> None:
        try:
            await self._client.batches.cancel(handle)
        except openai.NotFoundError as exc:
            raise UnknownBatch(f"OpenAI has no batch {handle!r}") from exc
        except openai.BadRequestError as exc:  # already ended: nothing to cancel
            logger.info(
                "openai batch not cancelled", extra={"batch_id": handle, "reason": exc.message}
            )
        except openai.OpenAIError as exc:
            raise provider_error(exc, "batch cancel") from exc

    async def find_orphans(self, tag: BatchTag) -> list[str]:
        """Batches whose metadata names ``tag``'s provider batch (newest first, back to
        ``tag.created_at`` less a clock-skew margin)."""
        since = (tag.created_at - ORPHAN_SKEW).timestamp()
        found: list[str] = []
        try:
            async for batch in self._client.batches.list(limit=100):
                if batch.created_at < since:
                    break
                if (batch.metadata or {}).get("agentbatch_batch") == tag.batch_id:
                    found.append(batch.id)
        except openai.OpenAIError as exc:
            raise provider_error(exc, "batch list") from exc
        return found

    async def cleanup(self, handle: str) -> None:
        """Delete the batch's input, output and error files (missing ones are fine)."""
        for one in handle.split("+"):
            await self._cleanup_one(one)

    async def _cleanup_one(self, handle: str) -> None:
        try:
            batch = await self._retrieve(handle)
        except UnknownBatch:
            return
        for file_id in (batch.input_file_id, batch.output_file_id, batch.error_file_id):
            if file_id:
                try:
                    await self._client.files.delete(file_id)
                except openai.NotFoundError:
                    continue
                except openai.OpenAIError as exc:
                    raise provider_error(exc, f"file delete ({file_id})") from exc

    async def _delete_quietly(self, file_id: str) -> None:
        try:
            await self._client.files.delete(file_id)
        except openai.OpenAIError:
            logger.warning("could not delete uploaded file", extra={"file_id": file_id})

    async def aclose(self) -> None:
        await self._client.close()
