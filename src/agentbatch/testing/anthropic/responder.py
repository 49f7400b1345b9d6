"""How the Anthropic emulator answers one batch request: the scripted model's answer as a
Messages API ``Message``, with usage that emulates prompt caching.

Token counts are estimates (4 characters a token). Caching: every ``cache_control``
breakpoint (render order tools → system → messages) names the prefix up to and including
its block; the longest prefix already cached (same model, unexpired) is read, the rest up to
the last breakpoint is written with that breakpoint's ttl, and every breakpoint's entry is
(re)written. So the first request with a given cached prefix reports
``cache_creation_input_tokens`` and later ones ``cache_read_input_tokens``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agentbatch.domain.model_io import ModelResponse
from agentbatch.testing.anthropic.blocks import sign_thinking
from agentbatch.testing.run_steps import run_position

TTL = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1)}
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class CacheUsage:
    input_tokens: int
    read: int
    write_5m: int
    write_1h: int


class PromptCache:
    """Cached prefixes (hash → expiry) shared by every batch of one emulator."""

    def __init__(self, min_tokens: int = 0) -> None:
        self.min_tokens = min_tokens
        self._expiry: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def account(self, params: Mapping[str, Any], now: datetime) -> CacheUsage:
        segments = _segments(params)
        digest = hashlib.sha256(str(params.get("model")).encode())
        chars, marks = 0, []  # (tokens of the prefix, its hash, ttl) per breakpoint
        for text, ttl in segments:
            digest.update(text.encode())
            chars += len(text)
            if ttl is not None:
                marks.append((chars // CHARS_PER_TOKEN, digest.hexdigest(), ttl))
        total = max(1, chars // CHARS_PER_TOKEN)
        marks = [m for m in marks if m[0] >= max(1, self.min_tokens)]
        with self._lock:
            read = max((t for t, key, _ in marks if self._expiry.get(key, now) > now), default=0)
            covered, writes = read, {"5m": 0, "1h": 0}
            for tokens, key, ttl in marks:
                if tokens > covered:
                    writes[ttl] += tokens - covered
                    covered = tokens
                self._expiry[key] = now + TTL[ttl]
        rest = max(0, total - read - writes["5m"] - writes["1h"])
        return CacheUsage(rest, read, writes["5m"], writes["1h"])


def _segments(params: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """The prompt in render order, one entry per block: (its text, breakpoint ttl or None)."""
    out: list[tuple[str, str | None]] = []
    for tool in params.get("tools") or ():
        out.append(_segment(tool))
    system = params.get("system")
    if isinstance(system, str):
        out.append((system, None))
    else:
        out.extend(_segment(b) for b in system or ())
    for msg in params.get("messages") or ():
        content = msg.get("content")
        if isinstance(content, str):
            out.append((f"{msg.get('role')}:{content}", None))
            continue
        for block in content or ():
            text, ttl = _segment(block)
            out.append((f"{msg.get('role')}:{text}", ttl))
    return out


def _segment(block: Mapping[str, Any]) -> tuple[str, str | None]:
    cc = block.get("cache_control")
    plain = {k: v for k, v in block.items() if k != "cache_control"}
    ttl = str(cc.get("ttl", "5m")) if isinstance(cc, Mapping) else None
    return json.dumps(plain, sort_keys=True, ensure_ascii=False), ttl


def tool_input(arguments: str) -> dict[str, Any]:
    """A tool call's arguments as a ``tool_use`` input object.

    The API only ever returns objects; arguments that are not a JSON object are wrapped as
    ``{"INVALID_JSON": "<text>"}``, the convention Anthropic's tool-use docs give for
    passing malformed tool input back to the model.
    """
    try:
        parsed = json.loads(arguments)
    except ValueError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"INVALID_JSON": arguments}


def build_message(
    params: Mapping[str, Any], response: ModelResponse, message_id: str, usage: CacheUsage
) -> dict[str, Any]:
    """The ``Message`` for a scripted response, cut at ``max_tokens`` like the real model."""
    max_tokens = int(params["max_tokens"])
    blocks: list[dict[str, Any]] = []
    if response.reasoning:
        blocks.append(
            {
                "type": "thinking",
                "thinking": response.reasoning,
                "signature": sign_thinking(response.reasoning),
            }
        )
    if response.content:
        blocks.append({"type": "text", "text": response.content})
    for call in response.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": tool_input(call.arguments),
            }
        )
    out_chars = len(response.reasoning or "") + len(response.content or "")
    out_chars += sum(len(json.dumps(b["input"])) for b in blocks if b["type"] == "tool_use")
    output_tokens = max(1, out_chars // CHARS_PER_TOKEN)
    stop_reason = "tool_use" if response.tool_calls else "end_turn"
    if output_tokens > max_tokens:
        budget = max_tokens * CHARS_PER_TOKEN
        blocks = [b for b in blocks if b["type"] != "tool_use"]
        for block in blocks:
            if block["type"] == "text":
                block["text"] = block["text"][:budget]
        stop_reason, output_tokens = "max_tokens", max_tokens
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": params["model"],
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": usage.write_5m + usage.write_1h,
            "cache_read_input_tokens": usage.read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": usage.write_5m,
                "ephemeral_1h_input_tokens": usage.write_1h,
            },
            "service_tier": "batch",
        },
    }


def conversation_facts(params: Mapping[str, Any]) -> tuple[int, str, str]:
    """(this run's step, the run's input text, all text of the last user turn).

    The step counts assistant turns since the run's input (see
    :mod:`agentbatch.testing.run_steps`); the last text includes ``tool_result`` content
    (fault rules match on it)."""
    raw = params.get("messages")
    messages = [m for m in raw if isinstance(m, Mapping)] if isinstance(raw, list) else []
    step, user_text = run_position(messages, lambda m: _texts(m)[0])
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    if last_user is None:
        return step, user_text, ""
    text, everything = _texts(last_user)
    return step, user_text, "\n".join([*everything, text])


def _texts(message: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(the message's own text, the text of its tool results)."""
    content = message.get("content")
    if isinstance(content, str):
        return content, []
    texts, everything = [], []
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, Mapping):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_result":
            inner = block.get("content")
            if isinstance(inner, str):
                everything.append(inner)
            elif isinstance(inner, list):
                everything.extend(str(b.get("text", "")) for b in inner if isinstance(b, Mapping))
    return "\n".join(texts), everything
