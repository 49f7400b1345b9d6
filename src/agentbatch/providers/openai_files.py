"""The OpenAI Batch API's files: the input written as JSONL (streamed to a temporary
file, never one big string), and each line of the output and error files read back as an
``ItemResult`` (HTTP 4xx answers other than 408/409/429 are not worth retrying)."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import openai

from agentbatch.domain.model_io import ItemResult, Outcome
from agentbatch.providers.openai_responses import decode_response
from agentbatch.providers.openai_wire import decode_completion, provider_error

logger = logging.getLogger(__name__)

# HTTP statuses of a request that may succeed when sent again (as the SDK's retry policy)
TRANSIENT_STATUS = frozenset({408, 409, 429})
_UNANSWERED = {"batch_expired": Outcome.EXPIRED, "batch_cancelled": Outcome.CANCELED}


def parse_result_line(record: Mapping[str, Any]) -> ItemResult | None:
    """One output- or error-file line to an ItemResult (None when it names no custom_id)."""
    custom_id = record.get("custom_id")
    if not isinstance(custom_id, str):
        return None
    response = record.get("response")
    if isinstance(response, Mapping):
        status = response.get("status_code")
        body = response.get("body") or {}
        if status == 200:
            try:
                decoded = (
                    decode_response(body)
                    if isinstance(body, Mapping) and body.get("object") == "response"
                    else decode_completion(body)
                )
                return ItemResult(custom_id, Outcome.SUCCEEDED, response=decoded)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                return ItemResult(custom_id, Outcome.ERRORED, error=f"unreadable completion: {exc}")
        error = body.get("error") if isinstance(body, Mapping) else None
        message = error.get("message") if isinstance(error, Mapping) else None
        transient = not isinstance(status, int) or status in TRANSIENT_STATUS or status >= 500
        return ItemResult(
            custom_id,
            Outcome.ERRORED,
            error=f"HTTP {status}: {message or body}",
            retryable=transient,
        )
    error = record.get("error")
    if isinstance(error, Mapping):
        code = str(error.get("code") or "")
        outcome = _UNANSWERED.get(code, Outcome.ERRORED)
        return ItemResult(custom_id, outcome, error=f"{code}: {error.get('message') or ''}".strip())
    return ItemResult(
        custom_id, Outcome.ERRORED, error="result line has neither response nor error"
    )


def write_jsonl(entries: Sequence[Mapping[str, Any]]) -> Path:
    with tempfile.NamedTemporaryFile(
        "w", suffix=".jsonl", encoding="utf-8", delete=False
    ) as handle:
        for entry in entries:
            handle.write(json.dumps(entry, separators=(",", ":"), ensure_ascii=False))
            handle.write("\n")
    return Path(handle.name)


async def failed_results(client: Any, batch: Any) -> AsyncIterator[ItemResult]:
    """Every request of a batch that failed validation, errored with the batch's error (not
    retried: the same input would fail the same way)."""
    errors = list(batch.errors.data or []) if batch.errors else []
    by_line = {e.line: e for e in errors if e.line is not None}
    summary = "; ".join(f"{e.code}: {e.message}" for e in errors[:3]) or "batch failed"
    if len(errors) > 3:
        summary += f" (+{len(errors) - 3} more)"
    own: dict[str, str] = {}  # custom_id -> its line's own error ('' when none)
    async for record in records(client, batch.input_file_id, numbered=True):
        number = int(record.pop("__line__"))
        custom_id = record.get("custom_id")
        if not isinstance(custom_id, str):
            continue
        error = by_line.get(number)
        if error is not None and not own.get(custom_id):
            own[custom_id] = f"{error.code}: {error.message} (line {number})"
        own.setdefault(custom_id, "")
    for custom_id, error_text in own.items():
        message = f"batch failed validation: {error_text or summary}"
        yield ItemResult(custom_id, Outcome.ERRORED, error=message, retryable=False)


async def records(
    client: Any, file_id: str, numbered: bool = False
) -> AsyncIterator[dict[str, Any]]:
    """The file's JSON lines (numbered from 1 when asked); unparseable lines are skipped."""
    try:
        async with client.files.with_streaming_response.content(file_id) as response:
            number = 0
            async for line in response.iter_lines():
                number += 1
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    logger.warning(
                        "skipping unparseable line", extra={"file_id": file_id, "line": number}
                    )
                    continue
                if isinstance(record, dict):
                    if numbered:
                        record["__line__"] = number
                    yield record
    except openai.OpenAIError as exc:
        raise provider_error(exc, f"file download ({file_id})") from exc
