"""``GoogleBatchProvider``: Gemini Batch Mode through the official ``google-genai`` SDK.

A batch whose requests fit under the inline limit (about 20 MB) is created with inlined
requests (each carries ``metadata.key`` = our custom id); a larger one is written as JSONL
(``{"key", "request"}`` lines), uploaded through the Files API and named as the source.
Results come back inline (``dest.inlined_responses``) or as a JSONL responses file, which
is streamed to a temporary file and read line by line.

Job states: ``JOB_STATE_SUCCEEDED`` / ``FAILED`` / ``CANCELLED`` / ``EXPIRED`` end the batch.
An expired (48 hours) or cancelled job returns what finished; the requests it never ran are
reported ``expired`` / ``canceled`` (when this process submitted the batch; otherwise the
runtime settles them as errored), and the runtime retries them. The SDK's own retries are
off (``HttpOptions.retry_options`` unset): the runtime retries from ``ProviderError``.
The base URL (for the emulator) is ``base_url`` or ``GOOGLE_GEMINI_BASE_URL``, the key
``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from agentbatch.domain.model_io import ItemResult, ModelRequest, Outcome
from agentbatch.errors import ConfigError, ProviderError, UnknownBatch
from agentbatch.providers.anthropic.provider import ORPHAN_SKEW, check_base_url
from agentbatch.providers.base import BatchLimits, BatchTag, PollResult, ProviderBase
from agentbatch.providers.batch_keys import BatchKeys
from agentbatch.providers.engine_settings import EngineSettings
from agentbatch.providers.google.batch_input import display_name, inline_request, write_jsonl
from agentbatch.providers.google.decoding import decode_line, error_text
from agentbatch.providers.google.encoding import encode_request
from agentbatch.providers.google.errors import map_error

log = logging.getLogger(__name__)

ENDED = frozenset(
    {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}
)
_UNRUN = {"JOB_STATE_EXPIRED": Outcome.EXPIRED, "JOB_STATE_CANCELLED": Outcome.CANCELED}


class GoogleBatchProvider(ProviderBase):
    """Gemini Batch Mode. The client is made on first use (a missing key is a
    ``ConfigError`` then)."""

    name = "google"
    limits = BatchLimits(max_requests=100_000, max_bytes=2_000_000_000)

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout_s: float = 120.0,
        inline_max_bytes: int | None = None,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self._timeout_s = timeout_s
        self.inline_max_bytes = (
            inline_max_bytes or EngineSettings.from_env().google_inline_max_bytes
        )
        self._client: genai.Client | None = None
        self._keys = BatchKeys()
        self._inputs: dict[str, str] = {}  # handle -> uploaded input file

    def _settings(self) -> tuple[str, str | None]:
        key = self._api_key or os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
        if not key:
            raise ConfigError(
                "GEMINI_API_KEY is not set (google/ models need GEMINI_API_KEY or GOOGLE_API_KEY)"
            )
        url = self._base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL") or None
        if url is not None:
            check_base_url(url, "GOOGLE_GEMINI_BASE_URL")
        return key, url

    def check_config(self) -> None:
        if self._client is None:
            self._settings()

    @property
    def client(self) -> Any:
        if self._client is None:
            key, url = self._settings()
            options = types.HttpOptions(
                base_url=url, api_version="v1beta", timeout=int(self._timeout_s * 1000)
            )
            self._client = genai.Client(api_key=key, http_options=options)
        return self._client.aio

    def encode(self, custom_id: str, request: ModelRequest) -> dict[str, Any]:
        return {"key": custom_id, "request": encode_request(request)}

    async def probe(self) -> None:
        try:
            await self.client.batches.list(config={"page_size": 1})
        except Exception as exc:
            raise map_error(exc, "list batches") from exc

    async def submit(
        self, model: str, entries: Sequence[dict[str, Any]], tag: BatchTag | None = None
    ) -> str:
        if not entries:
            raise ProviderError("cannot submit an empty batch")
        config = {"display_name": display_name(tag)} if tag is not None else {}
        size = sum(len(json.dumps(e, separators=(",", ":"))) + 1 for e in entries)
        uploaded: str | None = None
        try:
            if size <= self.inline_max_bytes:
                src: Any = [inline_request(e) for e in entries]
            else:
                uploaded = await self._upload(entries)
                src = uploaded
            job = await self.client.batches.create(model=model, src=src, config=config)
        except Exception as exc:
            if uploaded:
                await self._delete_file(uploaded)
            raise map_error(exc, "create batch") from exc
        handle = str(job.name)
        self._keys.remember(handle, [str(e["key"]) for e in entries])
        if uploaded:
            self._inputs[handle] = uploaded
        log.info(
            "gemini batch created",
            extra={"batch_id": handle, "model": model, "requests": len(entries), "bytes": size},
        )
        return handle

    async def _upload(self, entries: Sequence[dict[str, Any]]) -> str:
        path = await asyncio.to_thread(write_jsonl, entries)
        try:
            file = await self.client.files.upload(
                file=str(path), config={"mime_type": "jsonl", "display_name": path.name}
            )
        finally:
            path.unlink(missing_ok=True)
        return str(file.name)

    async def _get(self, handle: str) -> Any:
        try:
            return await self.client.batches.get(name=handle)
        except Exception as exc:
            raise map_error(exc, "get batch", handle) from exc

    async def poll(self, handle: str) -> PollResult:
        job = await self._get(handle)
        state = getattr(job.state, "value", str(job.state))
        return PollResult(ended=state in ENDED, status=state)

    async def results(self, handle: str) -> AsyncIterator[ItemResult]:
        job = await self._get(handle)
        state = getattr(job.state, "value", str(job.state))
        keys = self._keys.get(handle)
        seen: set[str] = set()
        dest = job.dest
        if dest is not None and dest.inlined_responses is not None:
            for index, item in enumerate(dest.inlined_responses):
                key = (item.metadata or {}).get("key") or (
                    keys[index] if index < len(keys) else None
                )
                if not key:
                    continue
                line: dict[str, Any] = {}
                if item.error is not None:
                    line["error"] = item.error.model_dump(mode="json", exclude_none=True)
                if item.response is not None:
                    line["response"] = item.response.model_dump(
                        mode="json", by_alias=True, exclude_none=True
                    )
                seen.add(key)
                yield decode_line(key, line)
        elif dest is not None and dest.file_name:
            async for key, line in self._file_lines(dest.file_name):
                seen.add(key)
                yield decode_line(key, line)
        unrun = _UNRUN.get(state)
        if state == "JOB_STATE_FAILED":
            detail = job.error.model_dump(mode="json", exclude_none=True) if job.error else {}
            text, _ = error_text(detail) if detail else ("batch failed", True)
            for key in keys:
                if key not in seen:
                    yield ItemResult(key, Outcome.ERRORED, error=f"batch failed: {text}")
        elif unrun is not None:
            for key in keys:
                if key not in seen:
                    yield ItemResult(key, unrun, error=f"request {unrun.value}: {state}")

    async def _file_lines(self, name: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        fd, raw = tempfile.mkstemp(suffix=".jsonl")
        os.close(fd)
        path = Path(raw)
        try:
            try:
                await self.client.files.download(file=name, destination=str(path))
            except Exception as exc:
                raise map_error(exc, f"download {name}") from exc
            with path.open(encoding="utf-8") as fh:
                for number, text in enumerate(fh, start=1):
                    if not text.strip():
                        continue
                    try:
                        line = json.loads(text)
                    except ValueError:
                        log.warning(
                            "skipping unparseable line", extra={"file": name, "line": number}
                        )
                        continue
                    if isinstance(line, dict) and isinstance(line.get("key"), str):
                        yield line["key"], line
        finally:
            path.unlink(missing_ok=True)

    async def cancel(self, handle: str) -> None:
        try:
            await self.client.batches.cancel(name=handle)
        except genai_errors.APIError as exc:
            if exc.code in (400, 409):  # already ended: nothing to cancel
                log.info("gemini cancel ignored", extra={"batch_id": handle, "reason": exc.message})
                return
            raise map_error(exc, "cancel batch", handle) from exc
        except Exception as exc:
            raise map_error(exc, "cancel batch", handle) from exc

    async def find_orphans(self, tag: BatchTag) -> list[str]:
        """Jobs whose display name names ``tag`` (newest first, back to ``tag.created_at``
        less a clock-skew margin)."""
        since = tag.created_at - ORPHAN_SKEW
        wanted = display_name(tag)
        found: list[str] = []
        try:
            async for job in await self.client.batches.list(config={"page_size": 100}):
                if job.create_time is not None and job.create_time < since:
                    break
                if job.display_name == wanted and job.name:
                    found.append(str(job.name))
        except Exception as exc:
            raise map_error(exc, "list batches") from exc
        return found

    async def cleanup(self, handle: str) -> None:
        """Delete the uploaded input file and the responses file (missing ones are fine)."""
        try:
            job = await self._get(handle)
        except UnknownBatch:
            job = None
        names = [self._inputs.pop(handle, None)]
        if job is not None and job.dest is not None:
            names.append(job.dest.file_name)
        for name in names:
            if name:
                await self._delete_file(name)
        self._keys.forget(handle)

    async def _delete_file(self, name: str) -> None:
        try:
            await self.client.files.delete(name=name)
        except genai_errors.APIError as exc:
            if exc.code != 404:
                log.warning("could not delete file", extra={"file": name, "reason": exc.message})
        except Exception as exc:
            log.warning("could not delete file", extra={"file": name, "reason": str(exc)})

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aio.aclose()
            self._client = None
