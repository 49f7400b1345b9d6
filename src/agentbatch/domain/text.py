"""Text made storable on every database: PostgreSQL refuses NUL in text, and UTF-8 (hence
JSON written by orjson, and both databases) has no lone surrogates. Each becomes U+FFFD;
the rest of the text is kept as it was. Checks are cheap for the common, clean case."""

from __future__ import annotations

import dataclasses
from typing import Any

from agentbatch.domain.messages import ToolCall
from agentbatch.domain.model_io import ItemResult, ModelResponse, Usage

REPLACEMENT = "\ufffd"


def _clean(text: str) -> bool:
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD (a valid surrogate pair,
    as Python may hold it from JSON escapes, becomes its character)."""
    if _clean(text):
        return text
    text = text.replace("\x00", REPLACEMENT)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def storable_opt(text: str | None) -> str | None:
    return None if text is None else storable(text)


def storable_value(value: Any) -> Any:
    """Every string inside a JSON-like value made storable (keys too)."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(k)): storable_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_value(v) for v in value]
    return value


def _call_clean(call: ToolCall) -> bool:
    return _clean(call.id) and _clean(call.name) and _clean(call.arguments)


def storable_response(response: ModelResponse) -> ModelResponse:
    """The response with every text made storable (itself when nothing needed it)."""
    texts = (response.content, response.reasoning, response.reasoning_signature, response.model)
    if all(t is None or _clean(t) for t in texts) and all(
        _call_clean(c) for c in response.tool_calls
    ):
        return response
    return dataclasses.replace(
        response,
        content=storable_opt(response.content),
        reasoning=storable_opt(response.reasoning),
        reasoning_signature=storable_opt(response.reasoning_signature),
        model=storable(response.model),
        tool_calls=tuple(
            ToolCall(id=storable(c.id), name=storable(c.name), arguments=storable(c.arguments))
            for c in response.tool_calls
        ),
    )


# a token count above this is no count a model reports: the provider's answer is wrong
MAX_TOKENS_REPORTED = 1 << 40


def _sane_usage(response: ModelResponse) -> ModelResponse:
    usage = response.usage
    counts = (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
    )
    if all(0 <= c <= MAX_TOKENS_REPORTED for c in counts):
        return response
    fixed = Usage(*(min(max(c, 0), MAX_TOKENS_REPORTED) for c in counts))
    return dataclasses.replace(response, usage=fixed)


def storable_result(result: ItemResult) -> ItemResult:
    """The result with its response and error storable (and absurd token counts capped).
    Stored JSON text of a response that needed cleaning is dropped (it is encoded again
    from the clean response)."""
    response = result.response
    if response is not None:
        sane = _sane_usage(response)
        if sane is not response:
            result = dataclasses.replace(result, response=sane, response_json=None)
            response = sane
    cleaned = storable_response(response) if response is not None else None
    error = storable_opt(result.error)
    unchanged = cleaned is response and error is result.error
    if unchanged and (result.response_json is None or not _escapes_unsafe(result.response_json)):
        return result
    return dataclasses.replace(result, response=cleaned, error=error, response_json=None)


def _escapes_unsafe(json_text: str) -> bool:
    """JSON text whose escapes decode to NUL or a surrogate (checked coarsely)."""
    return "\\u0000" in json_text or "\\ud" in json_text or "\\uD" in json_text
