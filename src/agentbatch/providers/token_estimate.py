"""Input tokens of an encoded request, estimated without a provider call: about four
characters a token over the parts of the request the model reads (tools, system prompt,
messages) as JSON text. The scripted model bills exactly this; the emulators count the
same way; real tokenizers land near it for English text and JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

CHARS_PER_TOKEN = 4


def _chars(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    return len(json.dumps(value, ensure_ascii=False, sort_keys=True))


def prompt_parts(entry: Mapping[str, Any]) -> list[Any]:
    """The parts of a provider entry that are prompt (by the entry's shape)."""
    params = entry.get("params")  # Anthropic Message Batches
    if isinstance(params, Mapping):
        return [params.get("tools"), params.get("system"), params.get("messages")]
    body = entry.get("body")  # OpenAI-format batch line
    if isinstance(body, Mapping):
        return [
            body.get("tools"),
            body.get("instructions"),
            body.get("messages") if "messages" in body else body.get("input"),
        ]
    request = entry.get("request")  # local model, Gemini inline requests
    if isinstance(request, Mapping):
        return [v for k, v in request.items() if k not in ("model", "options", "max_tokens")]
    return [{k: v for k, v in entry.items() if k != "custom_id"}]


def estimate_input_tokens(entry: Mapping[str, Any]) -> int:
    """Estimated input tokens (cached or not) of one encoded request."""
    if isinstance(entry.get("prompt_chars"), int):  # the scripted model's own count
        return max(1, int(entry["prompt_chars"]) // CHARS_PER_TOKEN)
    chars = sum(_chars(part) for part in prompt_parts(entry))
    return max(1, chars // CHARS_PER_TOKEN)


def max_output_tokens(entry: Mapping[str, Any]) -> int | None:
    """The request's own output cap, when its entry names one."""
    for holder in (entry.get("params"), entry.get("body"), entry.get("request"), entry):
        if isinstance(holder, Mapping):
            for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
                value = holder.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    return value
    return None


def cache_split(entry: Mapping[str, Any]) -> tuple[int, int, int]:
    """(tokens expected read from the prompt cache, written to it, neither) of one request.

    Anthropic (explicit breakpoints): the tools and system prompt are shared by the
    agents of a job and read; of the conversation, what the previous step marked is read
    and the rest up to the last breakpoint written. OpenAI-format (automatic caching of
    prefixes from 1,024 tokens): the prompt before the last assistant turn is read.
    Other providers: nothing cached."""
    total = estimate_input_tokens(entry)
    params = entry.get("params")
    if isinstance(params, Mapping):
        return _anthropic_split(params, total)
    body = entry.get("body")
    if isinstance(body, Mapping) and isinstance(body.get("messages"), list):
        messages = body["messages"]
        last = max(
            (i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None
        )
        prefix = messages[:last] if last is not None else messages[:1]
        read = (_chars(body.get("tools")) + _chars(prefix)) // CHARS_PER_TOKEN
        read = read if read >= 1024 else 0
        return min(read, total), 0, max(0, total - read)
    return 0, 0, total


def _anthropic_split(params: Mapping[str, Any], total: int) -> tuple[int, int, int]:
    shared = (_chars(params.get("tools")) + _chars(params.get("system"))) // CHARS_PER_TOKEN
    marks: list[int] = []  # tokens up to each conversation breakpoint
    chars = 0
    for turn in params.get("messages") or ():
        content = turn.get("content") if isinstance(turn, Mapping) else None
        for block in content if isinstance(content, list) else [content]:
            chars += _chars(block) + 8
            if isinstance(block, Mapping) and block.get("cache_control"):
                marks.append(shared + chars // CHARS_PER_TOKEN)
    read = min(total, marks[-2] if len(marks) >= 2 else shared)
    written = min(total, marks[-1]) - read if marks and marks[-1] > read else 0
    return read, written, max(0, total - read - written)
