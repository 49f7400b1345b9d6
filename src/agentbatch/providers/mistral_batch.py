"""``mistral/`` models through the Mistral Batch API (official ``mistralai`` SDK).

Requests are chat-completions bodies in Mistral's dialect: ``max_tokens``, ``tool_choice``
``any`` for "must call a tool", tool messages carry the tool's ``name``, and tool-call ids
are 9 characters ``[a-zA-Z0-9]`` (the API rejects others, so ids from another provider's
turns are rewritten consistently). A batch under the inline limit goes inline
(``requests`` in the create call); a larger one as a JSONL file uploaded with purpose
``batch``. Our provider-batch tag is the job's ``metadata``. Results are the output and
error files (``{"custom_id", "response": {"status_code", "body"}, "error"}`` lines), or
the job's inline ``outputs`` when it has no files. Status ``SUCCESS`` / ``FAILED`` /
``TIMEOUT_EXCEEDED`` / ``CANCELLED`` ends the job; requests a timed-out or cancelled job
never ran are reported ``expired`` / ``canceled`` when this process submitted it.
The SDK does not retry (no ``retry_config``): the runtime retries from ``ProviderError``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import httpx2
from mistralai.client import Mistral
from mistralai.client import errors as mistral_errors

from agentbatch.domain.model_io import ItemResult, ModelRequest, Outcome
from agentbatch.errors import ConfigError, ProviderConfigError, ProviderError, UnknownBatch
from agentbatch.providers.anthropic.provider import ORPHAN_SKEW, check_base_url
from agentbatch.providers.base import BatchLimits, BatchTag, PollResult, ProviderBase
from agentbatch.providers.batch_keys import BatchKeys
from agentbatch.providers.engine_settings import EngineSettings
from agentbatch.providers.openai_batch import parse_result_line
from agentbatch.providers.openai_wire import encode_body, retry_after_seconds

log = logging.getLogger(__name__)

CHAT_PATH: Final = "/v1/chat/completions"
ENDED = frozenset({"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"})
_UNRUN = {"TIMEOUT_EXCEEDED": Outcome.EXPIRED, "CANCELLED": Outcome.CANCELED}
_ID = re.compile(r"^[a-zA-Z0-9]{9}$")


def mistral_id(call_id: str) -> str:
    """A tool-call id Mistral accepts: its own ids stay; others map to 9 stable characters."""
    if _ID.match(call_id):
        return call_id
    digest = hashlib.sha256(call_id.encode()).hexdigest()
    return "x" + digest[:8]


def encode_mistral(request: ModelRequest) -> dict[str, Any]:
    body = encode_body(request, max_tokens_field="max_tokens")
    names: dict[str, str] = {}
    for message in body["messages"]:
        for call in message.get("tool_calls") or ():
            call["id"] = mistral_id(call["id"])
            names[call["id"]] = call["function"]["name"]
        if message["role"] == "tool":
            message["tool_call_id"] = mistral_id(message["tool_call_id"])
            message["name"] = names.get(message["tool_call_id"], "")
        if message["role"] == "assistant" and message.get("content") is None:
            message["content"] = ""
    if body.get("tool_choice") == "required":
        body["tool_choice"] = "any"
    extra = request.options.get("mistral") if request.options else None
    if isinstance(extra, Mapping):
        body.update(extra)
    return body


def map_error(exc: BaseException, action: str, handle: str | None = None) -> ProviderError:
    if isinstance(exc, mistral_errors.MistralError):
        status = exc.status_code
        text = f"mistral {action}: HTTP {status}: {exc.body[:500]}"
        if status == 404 and handle is not None:
            return UnknownBatch(f"mistral has no batch {handle!r} ({text})")
        if status in (401, 403):
            return ProviderConfigError(f"{text} (check MISTRAL_API_KEY)")
        retryable = status in (408, 409, 429) or status >= 500
        return ProviderError(
            text, retryable=retryable, retry_after=retry_after_seconds(exc.headers)
        )
    if isinstance(exc, httpx2.TransportError | mistral_errors.NoResponseError):
        return ProviderError(f"mistral {action}: {type(exc).__name__}: {exc}", retryable=True)
    return ProviderError(f"mistral {action}: {type(exc).__name__}: {exc}", retryable=False)


class MistralBatchProvider(ProviderBase):
    """The Mistral Batch API. ``api_key`` / ``base_url`` default to ``MISTRAL_API_KEY`` /
    ``MISTRAL_BASE_URL`` (the server URL, without ``/v1``)."""

    name = "mistral"
    limits = BatchLimits(max_requests=100_000, max_bytes=512 * 1024 * 1024)

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
            inline_max_bytes or EngineSettings.from_env().mistral_inline_max_bytes
        )
        self._client: Mistral | None = None
        self._keys = BatchKeys()

    def _settings(self) -> tuple[str, str | None]:
        key = self._api_key or os.environ.get("MISTRAL_API_KEY")
        if not key:
            raise ConfigError("MISTRAL_API_KEY is not set (mistral/ models need an API key)")
        url = self._base_url or os.environ.get("MISTRAL_BASE_URL") or None
        if url is not None:
            check_base_url(url, "MISTRAL_BASE_URL")
        return key, url

    def check_config(self) -> None:
        if self._client is None:
            self._settings()

    @property
    def client(self) -> Mistral:
        if self._client is None:
            key, url = self._settings()
            self._client = Mistral(
                api_key=key, server_url=url, timeout_ms=int(self._timeout_s * 1000)
            )
        return self._client

    def encode(self, custom_id: str, request: ModelRequest) -> dict[str, Any]:
        return {"custom_id": custom_id, "body": encode_mistral(request)}

    async def probe(self) -> None:
        try:
            await self.client.batch.jobs.list_async(page_size=1)
        except Exception as exc:
            raise map_error(exc, "list batch jobs") from exc

    async def submit(
        self, model: str, entries: Sequence[dict[str, Any]], tag: BatchTag | None = None
    ) -> str:
        if not entries:
            raise ProviderError("cannot submit an empty batch")
        lines = [json.dumps(e, separators=(",", ":"), ensure_ascii=False) for e in entries]
        size = sum(len(line.encode()) + 1 for line in lines)
        metadata = tag.metadata() if tag is not None else None
        uploaded: str | None = None
        try:
            if size <= self.inline_max_bytes:
                job = await self.client.batch.jobs.create_async(
                    endpoint=CHAT_PATH,
                    model=model,
                    requests=list(entries),  # type: ignore[arg-type]
                    metadata=metadata,
                )
            else:
                content = ("\n".join(lines) + "\n").encode()
                file = await self.client.files.upload_async(
                    file={"file_name": "agentbatch-input.jsonl", "content": content},
                    purpose="batch",
                )
                uploaded = file.id
                job = await self.client.batch.jobs.create_async(
                    endpoint=CHAT_PATH, model=model, input_files=[file.id], metadata=metadata
                )
        except Exception as exc:
            if uploaded:
                await self._delete_file(uploaded)
            raise map_error(exc, "create batch job") from exc
        self._keys.remember(job.id, [str(e["custom_id"]) for e in entries])
        log.info(
            "mistral batch created",
            extra={"batch_id": job.id, "model": model, "requests": len(entries), "bytes": size},
        )
        return job.id

    async def _get(self, handle: str, inline: bool = False) -> Any:
        try:
            return await self.client.batch.jobs.get_async(job_id=handle, inline=inline or None)
        except Exception as exc:
            raise map_error(exc, "get batch job", handle) from exc

    async def poll(self, handle: str) -> PollResult:
        job = await self._get(handle)
        counts = {
            "total": job.total_requests,
            "succeeded": job.succeeded_requests,
            "failed": job.failed_requests,
        }
        return PollResult(ended=str(job.status) in ENDED, status=str(job.status), counts=counts)

    async def results(self, handle: str) -> AsyncIterator[ItemResult]:
        job = await self._get(handle)
        seen: set[str] = set()
        files = [f for f in (job.output_file, job.error_file) if f]
        if files:
            for file_id in files:
                async for record in self._records(file_id):
                    parsed = parse_result_line(record)
                    if parsed is not None:
                        seen.add(parsed.custom_id)
                        yield parsed
        else:
            for record in (await self._get(handle, inline=True)).outputs or ():
                parsed = parse_result_line(record)
                if parsed is not None:
                    seen.add(parsed.custom_id)
                    yield parsed
        status = str(job.status)
        for key in self._keys.get(handle):
            if key in seen:
                continue
            if status in _UNRUN:
                yield ItemResult(key, _UNRUN[status], error=f"request not run: job {status}")
            elif status == "FAILED":
                errors = "; ".join(e.message for e in job.errors[:3]) or "job failed"
                yield ItemResult(key, Outcome.ERRORED, error=f"batch failed: {errors}")

    async def _records(self, file_id: str) -> AsyncIterator[dict[str, Any]]:
        try:
            response = await self.client.files.download_async(file_id=file_id)
        except Exception as exc:
            raise map_error(exc, f"download {file_id}") from exc
        try:
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    log.warning("skipping unparseable line", extra={"file_id": file_id})
                    continue
                if isinstance(record, dict):
                    yield record
        except httpx2.TransportError as exc:
            raise map_error(exc, f"download {file_id}") from exc
        finally:
            await response.aclose()

    async def cancel(self, handle: str) -> None:
        try:
            await self.client.batch.jobs.cancel_async(job_id=handle)
        except mistral_errors.MistralError as exc:
            if exc.status_code in (400, 409):  # already ended
                log.info("mistral cancel ignored", extra={"batch_id": handle})
                return
            raise map_error(exc, "cancel batch job", handle) from exc
        except Exception as exc:
            raise map_error(exc, "cancel batch job", handle) from exc

    async def find_orphans(self, tag: BatchTag) -> list[str]:
        since: datetime = tag.created_at - ORPHAN_SKEW
        found: list[str] = []
        page = 0
        try:
            while True:
                listed = await self.client.batch.jobs.list_async(
                    page=page, page_size=100, created_after=since
                )
                for job in listed.data or ():
                    if (job.metadata or {}).get("agentbatch_batch") == tag.batch_id:
                        found.append(job.id)
                if len(listed.data or ()) < 100:
                    return found
                page += 1
        except Exception as exc:
            raise map_error(exc, "list batch jobs") from exc

    async def cleanup(self, handle: str) -> None:
        """Delete the job's input, output and error files (missing ones are fine)."""
        try:
            job = await self._get(handle)
        except UnknownBatch:
            return
        for file_id in (*job.input_files, job.output_file, job.error_file):
            if file_id:
                await self._delete_file(str(file_id))
        self._keys.forget(handle)

    async def _delete_file(self, file_id: str) -> None:
        try:
            await self.client.files.delete_async(file_id=file_id)
        except Exception as exc:
            log.info("could not delete file", extra={"file_id": file_id, "reason": str(exc)})

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.__aexit__(None, None, None)
            self._client = None
