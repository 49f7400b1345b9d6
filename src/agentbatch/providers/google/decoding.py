"""One Gemini batch result (a ``GenerateContentResponse`` or a ``Status``, REST JSON) as a
neutral ``ItemResult``.

``succeeded``: the first candidate's text parts joined (``None`` when there are none);
thought parts (``thought: true``, the thought summaries) become the reasoning; function
calls become tool calls with the model's own id, or ``gfc_<key>_<n>`` when it gave none
(never sent back), and ``json.dumps(args)``; thought signatures are kept in this
provider's replay envelope (by call id, and the text's), so the next request can send them
back on the same parts. Usage: ``promptTokenCount`` includes the cached part, so
``input_tokens`` is the uncached remainder (plus tool-use prompt tokens) and the cached
part ``cache_read_tokens``; thinking tokens are billed as output, so ``output_tokens`` is
``candidatesTokenCount + thoughtsTokenCount``. A blocked prompt or a candidate stopped by
safety is ``errored``, not retryable (the same request is blocked again).
``errored``: ``"<STATUS> (<code>): <message>"``; retryable unless the status says the
request itself is wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from agentbatch.domain.messages import ToolCall
from agentbatch.domain.model_io import ItemResult, ModelResponse, Outcome, Usage
from agentbatch.providers.google.encoding import LOCAL_ID_PREFIX, replay_data

PERMANENT_STATUS = frozenset(
    {
        "INVALID_ARGUMENT",
        "FAILED_PRECONDITION",
        "PERMISSION_DENIED",
        "NOT_FOUND",
        "UNAUTHENTICATED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
    }
)
PERMANENT_CODES = frozenset({400, 401, 403, 404, 501})
_STOP = {"STOP": "end_turn", "MAX_TOKENS": "max_tokens"}
_BLOCKED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)


def signature_text(value: Any) -> str | None:
    """A thought signature as standard base64 text (the SDK hands out bytes; JSON
    results carry base64, standard or URL-safe)."""
    if value is None or value == "" or value == b"":
        return None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    text = str(value)
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return text
    return base64.b64encode(raw).decode("ascii")


def error_text(error: Mapping[str, Any]) -> tuple[str, bool]:
    """``(text, retryable)`` for a ``google.rpc.Status``."""
    status = str(error.get("status") or "")
    code = error.get("code")
    text = f"{status or 'ERROR'} ({code}): {error.get('message') or ''}".rstrip()
    permanent = status in PERMANENT_STATUS or (isinstance(code, int) and code in PERMANENT_CODES)
    return text, not permanent


def decode_line(key: str, line: Mapping[str, Any]) -> ItemResult:
    """A result line/entry: ``{"response": {...}}`` or ``{"error": {...}}``."""
    error = line.get("error")
    if isinstance(error, Mapping) and error:
        text, retryable = error_text(error)
        return ItemResult(key, Outcome.ERRORED, error=text, retryable=retryable)
    response = line.get("response")
    if not isinstance(response, Mapping):
        return ItemResult(key, Outcome.ERRORED, error="result has neither response nor error")
    try:
        return decode_response(key, response)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        # one malformed line fails only its own item (retried), never the whole batch
        return ItemResult(
            key, Outcome.ERRORED, error=f"unreadable result: {type(exc).__name__}: {exc}"
        )


def decode_response(key: str, response: Mapping[str, Any]) -> ItemResult:
    candidates = response.get("candidates") or []
    if not candidates:
        feedback = response.get("promptFeedback") or {}
        reason = feedback.get("blockReason") or "no candidates"
        return ItemResult(key, Outcome.ERRORED, error=f"prompt blocked: {reason}", retryable=False)
    candidate = candidates[0]
    finish = str(candidate.get("finishReason") or "STOP")
    parts = (candidate.get("content") or {}).get("parts") or []
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    signatures: dict[str, str] = {}
    text_signature: str | None = None
    for part in parts:
        signature = signature_text(part.get("thoughtSignature"))
        call = part.get("functionCall")
        if isinstance(call, Mapping):
            call_id = str(call.get("id") or f"{LOCAL_ID_PREFIX}{key}_{len(calls)}")
            args = call.get("args")
            calls.append(
                ToolCall(
                    id=call_id,
                    name=str(call.get("name") or ""),
                    arguments=json.dumps(args if args is not None else {}),
                )
            )
            if signature:
                signatures[call_id] = signature
        elif part.get("thought"):
            thoughts.append(str(part.get("text") or ""))
        elif "text" in part:
            texts.append(str(part.get("text") or ""))
            if signature:
                text_signature = signature
    if not calls and not texts and finish in _BLOCKED:
        return ItemResult(key, Outcome.ERRORED, error=f"answer blocked: {finish}", retryable=False)
    if calls:
        stop = "tool_use"
    else:
        stop = _STOP.get(finish, "content_filter" if finish in _BLOCKED else finish.lower())
    return ItemResult(
        key,
        Outcome.SUCCEEDED,
        response=ModelResponse(
            content="".join(texts) or None,
            tool_calls=tuple(calls),
            reasoning="\n".join(thoughts) or None,
            reasoning_signature=replay_data(signatures, text_signature),
            stop_reason=stop,
            usage=decode_usage(response.get("usageMetadata")),
            model=str(response.get("modelVersion") or ""),
        ),
    )


def decode_usage(usage: Mapping[str, Any] | None) -> Usage:
    if not usage:
        return Usage()
    prompt = int(usage.get("promptTokenCount") or 0)
    cached = int(usage.get("cachedContentTokenCount") or 0)
    tool_prompt = int(usage.get("toolUsePromptTokenCount") or 0)
    output = int(usage.get("candidatesTokenCount") or 0) + int(usage.get("thoughtsTokenCount") or 0)
    return Usage(
        input_tokens=max(0, prompt - cached) + tool_prompt,
        output_tokens=output,
        cache_read_tokens=cached,
    )
