"""``AnthropicBatchProvider``: the Message Batches API through the official ``anthropic`` SDK.

The SDK's own retries are off (``max_retries=0``): the runtime retries centrally, so every
SDK failure becomes a ``ProviderError`` that says whether another try may help and how long
the provider asked to wait (``retry-after-ms`` / ``retry-after``). A batch the provider does
not know (404) is ``UnknownBatch``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import anthropic
import httpx

from agentbatch.domain.model_io import ItemResult, ModelRequest, Outcome
from agentbatch.errors import ConfigError, ProviderConfigError, ProviderError, UnknownBatch
from agentbatch.providers.anthropic.decoding import decode_line
from agentbatch.providers.anthropic.encoding import encode_params
from agentbatch.providers.base import BatchLimits, BatchTag, PollResult, ProviderBase

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 409, 429})
CONFIG_STATUS = frozenset({401, 403})
# how far before our record time an unrecorded batch's creation may lie (clock skew)
ORPHAN_SKEW = timedelta(minutes=5)


def retry_after_seconds(headers: Any) -> float | None:
    """The wait the provider asked for, in seconds (``retry-after-ms`` wins)."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None


def map_error(exc: Exception, action: str, handle: str | None = None) -> ProviderError:
    """An SDK exception as the runtime's ProviderError (never includes credentials)."""
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        body: dict[str, Any] = exc.body if isinstance(exc.body, dict) else {}
        nested = body.get("error")
        detail: dict[str, Any] = nested if isinstance(nested, dict) else {}
        text = f"anthropic {action}: HTTP {status} {detail.get('type', '')}: {detail.get('message', exc.message)}"
        if status == 404 and handle is not None:
            return UnknownBatch(f"anthropic has no batch {handle!r} ({text})")
        if status in CONFIG_STATUS:
            return ProviderConfigError(f"{text} (check ANTHROPIC_API_KEY)")
        retryable = status in RETRYABLE_STATUS or status >= 500
        return ProviderError(
            text, retryable=retryable, retry_after=retry_after_seconds(exc.response.headers)
        )
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderError(f"anthropic {action}: {type(exc).__name__}: {exc}", retryable=True)
    return ProviderError(f"anthropic {action}: {type(exc).__name__}: {exc}", retryable=False)


class AnthropicBatchProvider(ProviderBase):
    """Anthropic Message Batches. ``api_key`` / ``base_url`` default to ``ANTHROPIC_API_KEY``
    / ``ANTHROPIC_BASE_URL``; the client is made on first use (a missing key is a
    ``ConfigError`` then, not at construction)."""

    name = "anthropic"
    orphans_exact = False  # Message Batches carry no metadata
    limits = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024)

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout_s: float = 120.0,
        delete_on_cleanup: bool = False,
        client: anthropic.AsyncAnthropic | None = None,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._delete_on_cleanup = delete_on_cleanup
        self._client = client

    def _settings(self) -> tuple[str, str | None]:
        key = self._api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise ConfigError("ANTHROPIC_API_KEY is not set (anthropic/ models need an API key)")
        base_url = self._base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        if base_url is not None:
            check_base_url(base_url, "ANTHROPIC_BASE_URL")
        return key, base_url

    def check_config(self) -> None:
        if self._client is None:
            self._settings()

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            key, base_url = self._settings()
            self._client = anthropic.AsyncAnthropic(
                api_key=key, base_url=base_url, max_retries=0, timeout=self._timeout_s
            )
        return self._client

    async def probe(self) -> None:
        try:
            await self.client.messages.batches.list(limit=1)
        except anthropic.AnthropicError as exc:
            raise map_error(exc, "list batches") from exc

    def encode(self, custom_id: str, request: ModelRequest) -> dict[str, Any]:
        return {"custom_id": custom_id, "params": encode_params(request)}

    async def submit(
        self, model: str, entries: Sequence[dict[str, Any]], tag: BatchTag | None = None
    ) -> str:
        # Message Batches carry no metadata: our item ids (the custom_ids) lead back to the job
        try:
            batch = await self.client.messages.batches.create(requests=list(entries))  # type: ignore[arg-type]
        except anthropic.AnthropicError as exc:
            raise map_error(exc, "create batch") from exc
        log.info(
            "anthropic batch created",
            extra={"batch_id": batch.id, "model": model, "requests": len(entries)},
        )
        return batch.id

    async def live(self, entry: dict[str, Any]) -> ItemResult:
        """Answer one encoded entry through the Messages API now (a deadline's late step).
        Raises ProviderError like the batch calls; a refused request is an errored item."""
        custom_id = str(entry["custom_id"])
        try:
            message = await self.client.messages.create(**entry["params"])
        except anthropic.APIStatusError as exc:
            error = map_error(exc, "create message")
            if error.retryable or isinstance(error, ConfigError):
                raise error from exc
            return ItemResult(custom_id, Outcome.ERRORED, error=str(error), retryable=False)
        except anthropic.AnthropicError as exc:
            raise map_error(exc, "create message") from exc
        return decode_line(
            {"custom_id": custom_id, "result": {"type": "succeeded", "message": message.to_dict()}}
        )

    async def poll(self, handle: str) -> PollResult:
        try:
            batch = await self.client.messages.batches.retrieve(handle)
        except anthropic.AnthropicError as exc:
            raise map_error(exc, "retrieve batch", handle) from exc
        counts = {
            k: int(v) for k, v in batch.request_counts.to_dict().items() if isinstance(v, int)
        }
        return PollResult(
            ended=batch.processing_status == "ended", status=batch.processing_status, counts=counts
        )

    async def results(self, handle: str) -> AsyncIterator[ItemResult]:
        try:
            decoder = await self.client.messages.batches.results(handle)
        except anthropic.AnthropicError as exc:
            raise map_error(exc, "read results", handle) from exc
        try:
            async for line in decoder:
                yield decode_line(line.to_dict())
        except anthropic.AnthropicError as exc:
            raise map_error(exc, "read results", handle) from exc
        except Exception as exc:  # the stream broke off (transport error) or a line was cut
            raise ProviderError(
                f"anthropic read results: {type(exc).__name__}: {exc}", retryable=True
            ) from exc
        finally:
            await decoder.close()

    async def cancel(self, handle: str) -> None:
        try:
            await self.client.messages.batches.cancel(handle)
        except anthropic.BadRequestError as exc:  # already ended: nothing to cancel
            log.info("anthropic cancel ignored", extra={"batch_id": handle, "reason": exc.message})
        except anthropic.AnthropicError as exc:
            raise map_error(exc, "cancel batch", handle) from exc

    async def find_orphans(self, tag: BatchTag) -> list[str]:
        """Batches have no metadata at Anthropic, and their requests are hidden until they
        end: an unrecorded batch is one created since ``tag.created_at`` (less a clock-skew
        margin) with exactly ``tag.requests`` requests. The runtime drops handles it knows.
        An account shared with other software could hold a look-alike; see docs."""
        since = tag.created_at - ORPHAN_SKEW
        before = tag.created_before + ORPHAN_SKEW if tag.created_before else None
        found: list[str] = []
        try:
            async for batch in self.client.messages.batches.list(limit=100):
                if batch.created_at < since:
                    break  # newest first: the rest is older
                counts = batch.request_counts
                total = (
                    counts.processing
                    + counts.succeeded
                    + counts.errored
                    + counts.canceled
                    + counts.expired
                )
                if total == tag.requests and (before is None or batch.created_at <= before):
                    found.append(batch.id)
        except anthropic.AnthropicError as exc:
            raise map_error(exc, "list batches") from exc
        return found

    async def cleanup(self, handle: str) -> None:
        """Results stay at Anthropic for 29 days; delete them now only if asked to."""
        if not self._delete_on_cleanup:
            return
        try:
            await self.client.messages.batches.delete(handle)
        except anthropic.NotFoundError:
            return
        except anthropic.AnthropicError as exc:
            raise map_error(exc, "delete batch", handle) from exc

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def check_base_url(url: str, variable: str) -> None:
    """A base URL must be an absolute http(s) URL; say which variable is wrong."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigError(f"{variable} is not a valid URL: {url!r} ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"{variable} must be an http(s) URL with a host, got {url!r}")
