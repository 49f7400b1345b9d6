"""``openrouter/<vendor>/<model>`` through OpenRouter's Batch API, over plain HTTP.

What was checked (the API reference and the official ``openrouter`` Python SDK 1.3.84):
``POST /batches`` takes ``{"endpoint", "model", "requests": [{"custom_id", "body"}]}`` inline
(no file upload; ``endpoint`` and ``model`` must come before ``requests``, the service
stream-parses the body) and answers ``202`` with ``status: "validating"``; ``GET
/batches/{id}`` reports ``status`` (``validating | in_progress | finalizing | completed |
failed | expired | cancelling | cancelled``) and ``request_counts``, and includes
``results`` once terminal; ``GET /batches/{id}/results`` pages the same results with
``cursor`` / ``next_cursor``; ``DELETE /batches/{id}`` removes a terminal batch. There is
no cancel call and no per-batch metadata. The SDK covers list/create/get/delete only and
parses every result strictly, so this adapter speaks HTTP itself (httpx) and streams the
results page by page.

Quirks: ``cancel`` cannot stop an OpenRouter batch (the runtime still cancels the runs;
the batch finishes at the provider and its results are ignored); orphans are matched on
creation time and request count. Key ``OPENROUTER_API_KEY``, base URL
``OPENROUTER_BASE_URL`` (default ``https://openrouter.ai/api/v1``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from agentbatch.domain.model_io import ItemResult, ModelRequest
from agentbatch.errors import ConfigError, ProviderConfigError, ProviderError, UnknownBatch
from agentbatch.providers.anthropic.provider import ORPHAN_SKEW, check_base_url
from agentbatch.providers.base import BatchLimits, BatchTag, PollResult, ProviderBase
from agentbatch.providers.openai_batch import parse_result_line
from agentbatch.providers.openai_wire import CHAT_PATH, encode_body, retry_after_seconds

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})


class OpenRouterBatchProvider(ProviderBase):
    name = "openrouter"
    orphans_exact = False  # no batch metadata
    limits = BatchLimits(max_requests=50_000, max_bytes=100 * 1024 * 1024)

    def __init__(
        self, api_key: str | None = None, base_url: str | None = None, *, timeout_s: float = 120.0
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    def _settings(self) -> tuple[str, str]:
        key = self._api_key or os.environ.get("OPENROUTER_API_KEY")
        if not key:
            raise ConfigError("OPENROUTER_API_KEY is not set (openrouter/ models need an API key)")
        url = self._base_url or os.environ.get("OPENROUTER_BASE_URL") or DEFAULT_BASE_URL
        check_base_url(url, "OPENROUTER_BASE_URL")
        return key, url.rstrip("/")

    def check_config(self) -> None:
        if self._client is None:
            self._settings()

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            key, url = self._settings()
            self._client = httpx.AsyncClient(
                base_url=url,
                headers={"Authorization": f"Bearer {key}", "X-Title": "agentbatch"},
                timeout=self._timeout_s,
            )
        return self._client

    async def _call(
        self, method: str, path: str, action: str, handle: str | None = None, **kwargs: Any
    ) -> Any:
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ProviderError(
                f"openrouter {action}: {type(exc).__name__}: {exc}", retryable=True
            ) from exc
        status = response.status_code
        if status < 300:
            return response.json() if response.content else {}
        try:
            detail = response.json().get("error", {}).get("message") or response.text
        except ValueError:
            detail = response.text
        text = f"openrouter {action}: HTTP {status}: {str(detail)[:500]}"
        if status == 404 and handle is not None:
            raise UnknownBatch(f"openrouter has no batch {handle!r} ({text})")
        if status in (401, 402, 403):
            raise ProviderConfigError(f"{text} (check OPENROUTER_API_KEY and credits)")
        retryable = status in (408, 409, 429) or status >= 500
        raise ProviderError(
            text, retryable=retryable, retry_after=retry_after_seconds(response.headers)
        )

    def encode(self, custom_id: str, request: ModelRequest) -> dict[str, Any]:
        return {"custom_id": custom_id, "body": encode_body(request, max_tokens_field="max_tokens")}

    async def probe(self) -> None:
        await self._call("GET", "/batches", "list batches", params={"limit": 1})

    async def submit(
        self, model: str, entries: Sequence[dict[str, Any]], tag: BatchTag | None = None
    ) -> str:
        if not entries:
            raise ProviderError("cannot submit an empty batch")
        body = {"endpoint": CHAT_PATH, "model": model, "requests": list(entries)}
        batch = await self._call("POST", "/batches", "create batch", json=body)
        log.info(
            "openrouter batch created", extra={"batch_id": batch["id"], "requests": len(entries)}
        )
        return str(batch["id"])

    async def poll(self, handle: str) -> PollResult:
        batch = await self._call("GET", f"/batches/{handle}", "get batch", handle)
        status = str(batch.get("status") or "")
        counts = {k: int(v) for k, v in (batch.get("request_counts") or {}).items()}
        return PollResult(ended=status in ENDED, status=status, counts=counts)

    async def results(self, handle: str) -> AsyncIterator[ItemResult]:
        cursor: str | None = None
        while True:
            params = {"cursor": cursor} if cursor else {}
            page = await self._call(
                "GET", f"/batches/{handle}/results", "read results", handle, params=params
            )
            for record in page.get("data") or ():
                parsed = parse_result_line(record)
                if parsed is not None:
                    yield parsed
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def cancel(self, handle: str) -> None:
        log.warning(
            "openrouter batches cannot be cancelled; %s runs to its end and its results are "
            "ignored",
            handle,
        )

    async def find_orphans(self, tag: BatchTag) -> list[str]:
        """No metadata at OpenRouter: batches created since ``tag.created_at`` (less a
        clock-skew margin) with exactly ``tag.requests`` requests."""
        since = (tag.created_at - ORPHAN_SKEW).timestamp()
        listed = await self._call("GET", "/batches", "list batches", params={"limit": 100})
        return [
            str(b["id"])
            for b in listed.get("data") or ()
            if int(b.get("created_at") or 0) >= since
            and int((b.get("request_counts") or {}).get("total") or 0) == tag.requests
        ]

    async def cleanup(self, handle: str) -> None:
        """Delete the ended batch and its stored requests and results."""
        try:
            await self._call("DELETE", f"/batches/{handle}", "delete batch", handle)
        except ProviderError as exc:
            log.info("openrouter delete of %s failed: %s", handle, exc)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
