"""Chat-completions wire format shared by the ``openai/`` and ``openai-compatible/`` adapters.

``encode_body`` turns a neutral :class:`ModelRequest` into a ``/v1/chat/completions`` body;
``decode_completion`` turns a ``chat.completion`` object back into a :class:`ModelResponse`;
``provider_error`` maps an ``openai`` SDK exception to :class:`ProviderError`.

The message list is always valid for the API: every assistant message with ``tool_calls``
is followed directly by one tool message per call (in call order; a missing result gets a
placeholder), and a tool message that answers no earlier call becomes a user message.
Reasoning is never replayed (chat completions has no field for it).
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import openai

from agentbatch.domain.messages import Message, ToolCall
from agentbatch.domain.model_io import ModelRequest, ModelResponse, Usage
from agentbatch.errors import ProviderConfigError, ProviderError

CHAT_PATH = "/v1/chat/completions"
MISSING_RESULT = "Error: the tool call was not executed (no result was recorded)."

_STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "content_filter",
}


def _tool_result(message: Message) -> str:
    content = message.content or ""
    if message.is_error and not content.lower().startswith("error"):
        return f"Error: {content}"
    return content


def _assistant(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    elif message.content is None:
        out["content"] = ""
    return out


def pair_tool_results(messages: Sequence[Message]) -> tuple[dict[str, Message], set[int]]:
    """Each tool call's first answer (by call id) and the indexes of tool messages that
    answer no earlier call, or answer one a second time (both wire formats drop those)."""
    answers: dict[str, Message] = {}
    orphans: set[int] = set()
    called: set[str] = set()
    for index, message in enumerate(messages):
        if message.role == "assistant":
            called.update(call.id for call in message.tool_calls)
        elif message.role == "tool":
            call_id = message.tool_call_id or ""
            if call_id in called and call_id not in answers:
                answers[call_id] = message
            else:
                orphans.add(index)
    return answers, orphans


def encode_messages(system: str, messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The ``messages`` array: system first, then history with valid tool-call groups."""
    answers, orphans = pair_tool_results(messages)

    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": system})
    for index, message in enumerate(messages):
        if message.role == "user":
            out.append({"role": "user", "content": message.content or ""})
        elif message.role == "assistant":
            out.append(_assistant(message))
            for call in message.tool_calls:
                answer = answers.get(call.id)
                content = _tool_result(answer) if answer is not None else MISSING_RESULT
                out.append({"role": "tool", "tool_call_id": call.id, "content": content})
        elif index in orphans:
            label = message.name or message.tool_call_id or "unknown call"
            out.append(
                {"role": "user", "content": f"[tool result for {label}] {_tool_result(message)}"}
            )
    return out


def encode_body(
    request: ModelRequest,
    *,
    max_tokens_field: str = "max_completion_tokens",
    cache_key: bool = False,
) -> dict[str, Any]:
    """A chat-completions request body for ``request``.

    ``max_tokens_field`` is ``max_completion_tokens`` (OpenAI) or ``max_tokens`` (older
    OpenAI-compatible servers). With ``cache_key`` the agent id becomes
    ``prompt_cache_key`` (OpenAI routes requests sharing a key to the same prompt cache).
    ``request.options["openai"]``, when a mapping, is merged into the body last.
    """
    body: dict[str, Any] = {
        "model": request.model,
        "messages": encode_messages(request.system, request.messages),
    }
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": dict(tool.parameters),
                },
            }
            for tool in request.tools
        ]
        body["tool_choice"] = request.tool_choice
    body[max_tokens_field] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if cache_key and request.agent_id:
        body["prompt_cache_key"] = request.agent_id
    extra = request.options.get("openai") if request.options else None
    if isinstance(extra, Mapping):
        body.update(extra)
    return body


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts
        return "".join(str(p.get("text", "")) for p in value if isinstance(p, Mapping))
    return str(value)


def decode_usage(usage: Mapping[str, Any] | None) -> Usage:
    """Prompt tokens include cached ones: ``input_tokens`` is the uncached remainder."""
    if not usage:
        return Usage()
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_write_tokens") or 0)
    prompt = int(usage.get("prompt_tokens") or 0)
    return Usage(
        input_tokens=max(0, prompt - cached - written),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cache_read_tokens=cached,
        cache_write_tokens=written,
    )


def decode_completion(body: Mapping[str, Any]) -> ModelResponse:
    """A ``chat.completion`` object (as a dict) to a :class:`ModelResponse`.

    Tool-call ids and argument strings are kept verbatim. ``reasoning_content`` /
    ``reasoning`` (sent by some OpenAI-compatible servers) becomes ``reasoning``.
    """
    choices = body.get("choices") or []
    if not choices:
        raise ValueError("chat completion has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    calls = tuple(
        ToolCall(
            id=str(call.get("id") or ""),
            name=str((call.get("function") or {}).get("name") or ""),
            arguments=_arguments((call.get("function") or {}).get("arguments")),
        )
        for call in message.get("tool_calls") or ()
        if call.get("type", "function") == "function"
    )
    content = _text(message.get("content"))
    finish = str(choice.get("finish_reason") or "stop")
    stop_reason = _STOP_REASONS.get(finish, finish)
    if content is None and isinstance(message.get("refusal"), str):
        content, stop_reason = message["refusal"], "refusal"
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    return ModelResponse(
        content=content,
        tool_calls=calls,
        reasoning=reasoning if isinstance(reasoning, str) else None,
        stop_reason=stop_reason,
        usage=decode_usage(body.get("usage")),
        model=str(body.get("model") or ""),
    )


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "{}" if value is None else json.dumps(value)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is not None:
                return max(0.0, float(email.utils.mktime_tz(parsed) - time.time()))
    return None


def provider_error(exc: BaseException, action: str) -> ProviderError:
    """Map an SDK exception to ProviderError; retryable like the SDK's own retry policy
    (connection errors, timeouts, 408, 409, 429 and 5xx)."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status in (408, 409, 429) or status >= 500
        headers = exc.response.headers if exc.response is not None else None
        if status in (401, 403):
            return ProviderConfigError(
                f"OpenAI {action} failed (HTTP {status}): {exc.message} (check the API key)"
            )
        return ProviderError(
            f"OpenAI {action} failed (HTTP {status}): {exc.message}",
            retryable=retryable,
            retry_after=retry_after_seconds(headers),
        )
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(f"OpenAI {action} failed: {exc.message}", retryable=True)
    return ProviderError(f"OpenAI {action} failed: {type(exc).__name__}: {exc}", retryable=False)
