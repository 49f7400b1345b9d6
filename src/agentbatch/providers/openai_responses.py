"""Responses API wire format (``/v1/responses``) for ``openai/`` agents whose model
settings say ``endpoint: responses``.

Requests are stateless (``store: false``) and ask for ``reasoning.encrypted_content``, so a
reasoning model's reasoning items come back encrypted and are replayed verbatim before the
message and function calls they preceded: the model keeps its reasoning across steps
without OpenAI storing anything. The items live in this provider's replay envelope
(:mod:`agentbatch.domain.replay`); their summaries become the message's ``reasoning``.

Input rules the API enforces, and how they are met: every ``function_call`` is answered by
one ``function_call_output`` (same ``call_id``; a missing result gets a placeholder), an
output whose call is not in the window becomes a user message, a reasoning item is never
sent without the item that followed it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from agentbatch.domain.messages import Message, ToolCall
from agentbatch.domain.model_io import ModelRequest, ModelResponse, Usage
from agentbatch.domain.replay import pack, unpack
from agentbatch.providers.openai_wire import pair_tool_results

RESPONSES_PATH = "/v1/responses"
REPLAY = "openai-responses"
MISSING_RESULT = "Error: the tool call was not executed (no result was recorded)."


def wants_responses(request: ModelRequest) -> bool:
    return str((request.options or {}).get("endpoint") or "") == "responses"


def _output(message: Message) -> str:
    content = message.content or ""
    if message.is_error and not content.lower().startswith("error"):
        return f"Error: {content}"
    return content


def encode_input(messages: Sequence[Message]) -> list[dict[str, Any]]:
    answers, orphans = pair_tool_results(messages)
    items: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if message.role == "user":
            items.append({"role": "user", "content": message.content or ""})
        elif message.role == "assistant":
            said = bool(message.content and message.content.strip())
            if not said and not message.tool_calls:
                continue
            data = unpack(message.reasoning_signature, REPLAY)
            if isinstance(data, Mapping):
                items.extend(dict(i) for i in data.get("items") or () if isinstance(i, Mapping))
            if said:
                items.append({"role": "assistant", "content": message.content})
            for call in message.tool_calls:
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call.id,
                        "name": call.name,
                        "arguments": call.arguments,
                    }
                )
                answer = answers.get(call.id)
                output = _output(answer) if answer is not None else MISSING_RESULT
                items.append({"type": "function_call_output", "call_id": call.id, "output": output})
        elif index in orphans:
            label = message.name or message.tool_call_id or "unknown call"
            items.append(
                {"role": "user", "content": f"[tool result for {label}] {_output(message)}"}
            )
    return items


def encode_responses_body(request: ModelRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "input": encode_input(request.messages),
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "max_output_tokens": max(16, request.max_tokens),
    }
    if request.system:
        body["instructions"] = request.system
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "name": tool.name,
                "description": tool.description,
                "parameters": dict(tool.parameters),
            }
            for tool in request.tools
        ]
        body["tool_choice"] = request.tool_choice
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.agent_id:
        body["prompt_cache_key"] = request.agent_id
    options = request.options or {}
    if isinstance(options.get("reasoning"), Mapping):
        body["reasoning"] = dict(options["reasoning"])
    extra = options.get("openai")
    if isinstance(extra, Mapping):
        body.update(extra)
    return body


def decode_usage(usage: Mapping[str, Any] | None) -> Usage:
    if not usage:
        return Usage()
    cached = int((usage.get("input_tokens_details") or {}).get("cached_tokens") or 0)
    return Usage(
        input_tokens=max(0, int(usage.get("input_tokens") or 0) - cached),
        output_tokens=int(usage.get("output_tokens") or 0),
        cache_read_tokens=cached,
    )


def decode_response(body: Mapping[str, Any]) -> ModelResponse:
    """A ``response`` object (as a dict) to a :class:`ModelResponse`."""
    texts: list[str] = []
    summaries: list[str] = []
    replay: list[dict[str, Any]] = []
    calls: list[ToolCall] = []
    refusal: str | None = None
    for item in body.get("output") or ():
        kind = item.get("type")
        if kind == "reasoning":
            summaries.extend(
                str(s.get("text") or "")
                for s in item.get("summary") or ()
                if isinstance(s, Mapping)
            )
            kept = {"type": "reasoning", "id": item.get("id"), "summary": item.get("summary") or []}
            if item.get("encrypted_content"):
                kept["encrypted_content"] = item["encrypted_content"]
            replay.append(kept)
        elif kind == "message":
            for part in item.get("content") or ():
                if part.get("type") == "output_text":
                    texts.append(str(part.get("text") or ""))
                elif part.get("type") == "refusal":
                    refusal = str(part.get("refusal") or "")
        elif kind == "function_call":
            arguments = item.get("arguments")
            calls.append(
                ToolCall(
                    id=str(item.get("call_id") or item.get("id") or ""),
                    name=str(item.get("name") or ""),
                    arguments=arguments if isinstance(arguments, str) else json.dumps(arguments),
                )
            )
    content = "".join(texts) or None
    stop = "tool_use" if calls else "end_turn"
    incomplete = (body.get("incomplete_details") or {}).get("reason")
    if body.get("status") == "incomplete":
        stop = (
            "max_tokens" if incomplete == "max_output_tokens" else str(incomplete or "incomplete")
        )
    if content is None and refusal is not None:
        content, stop = refusal, "refusal"
    return ModelResponse(
        content=content,
        tool_calls=tuple(calls),
        reasoning="\n".join(s for s in summaries if s) or None,
        reasoning_signature=pack(REPLAY, {"items": replay}) if replay else None,
        stop_reason=stop,
        usage=decode_usage(body.get("usage")),
        model=str(body.get("model") or ""),
    )
