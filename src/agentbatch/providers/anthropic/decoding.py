"""One line of an Anthropic batch's results (``MessageBatchIndividualResponse`` as a dict)
as a neutral ``ItemResult``.

``succeeded``: text blocks joined (``None`` when there are none); thinking blocks become the
reasoning, with the signature when there is exactly one (several thinking blocks cannot be
replayed under one signature, so their joined text is kept unsigned); ``tool_use`` blocks
become tool calls with the provider's ``toolu_`` id and ``json.dumps(input)`` (an input of
exactly ``{"INVALID_JSON": "<text>"}`` gives back the raw text); usage maps
``cache_read_input_tokens`` / ``cache_creation_input_tokens`` to the cache read / write
counts (``input_tokens`` stays the uncached part, as Anthropic reports it).
``errored``: ``"<type>: <message>"``, not retryable when the type says the request itself
is wrong (``invalid_request_error`` and the like). ``canceled`` / ``expired``: no response.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentbatch.domain.messages import ToolCall
from agentbatch.domain.model_io import ItemResult, ModelResponse, Outcome, Usage

# error types that say the request itself is wrong: sending it again cannot succeed
PERMANENT_ERRORS = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "billing_error",
    }
)


def decode_line(line: Mapping[str, Any]) -> ItemResult:
    custom_id = str(line.get("custom_id", ""))
    result = line.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded":
        try:
            response = decode_message(result.get("message") or {})
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # one malformed line fails only its own item (retried), never the whole batch
            return ItemResult(
                custom_id, Outcome.ERRORED, error=f"unreadable result: {type(exc).__name__}: {exc}"
            )
        return ItemResult(custom_id, Outcome.SUCCEEDED, response=response)
    if kind == "errored":
        text = error_text(result.get("error"))
        return ItemResult(
            custom_id,
            Outcome.ERRORED,
            error=text,
            retryable=text.split(":", 1)[0] not in PERMANENT_ERRORS,
        )
    if kind in ("canceled", "expired"):
        return ItemResult(custom_id, Outcome(kind), error=f"request {kind} at the provider")
    return ItemResult(custom_id, Outcome.ERRORED, error=f"unknown result type {kind!r}")


def error_text(error: Any) -> str:
    """``"<type>: <message>"`` from an ``ErrorResponse`` (or a bare error object)."""
    if not isinstance(error, Mapping):
        return "api_error: no error detail"
    nested = error.get("error")
    inner: Mapping[str, Any] = nested if isinstance(nested, Mapping) else error
    return f"{inner.get('type') or 'api_error'}: {inner.get('message') or ''}".rstrip()


def decode_message(message: Mapping[str, Any]) -> ModelResponse:
    texts: list[str] = []
    thoughts: list[tuple[str, str | None]] = []
    calls: list[ToolCall] = []
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "thinking":
            thoughts.append((str(block.get("thinking") or ""), block.get("signature")))
        elif kind == "tool_use":
            calls.append(
                ToolCall(
                    id=str(block["id"]),
                    name=str(block["name"]),
                    arguments=_arguments(block.get("input")),
                )
            )
    reasoning = "\n".join(t for t, _ in thoughts) or None
    signature = thoughts[0][1] if len(thoughts) == 1 else None
    usage = message.get("usage") or {}
    return ModelResponse(
        content="".join(texts) or None,
        tool_calls=tuple(calls),
        reasoning=reasoning,
        reasoning_signature=signature if reasoning else None,
        stop_reason=str(message.get("stop_reason") or "end_turn"),
        usage=Usage(
            input_tokens=int(usage.get("input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
            cache_read_tokens=int(usage.get("cache_read_input_tokens") or 0),
            cache_write_tokens=int(usage.get("cache_creation_input_tokens") or 0),
        ),
        model=str(message.get("model") or ""),
    )


def _arguments(value: Any) -> str:
    if (
        isinstance(value, Mapping)
        and set(value) == {"INVALID_JSON"}
        and isinstance(value["INVALID_JSON"], str)
    ):
        return value["INVALID_JSON"]
    return json.dumps(value if value is not None else {})
