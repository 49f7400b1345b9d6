"""OpenAI Batch API input files, read as agentbatch job requests (pure: no I/O).

A line is ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {"model",
"messages", ...}}``. Each line becomes one request for the agent its ``custom_id`` names (an
agent id or name), or for a new agent made from a template. ``system`` / ``developer``
messages become a new agent's system prompt; ``user`` messages are the request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

CHAT_URLS = ("/v1/chat/completions", "/chat/completions")
MAX_CUSTOM_ID = 200  # an agent name's limit
SETTINGS = ("max_tokens", "max_completion_tokens", "temperature", "top_p")


@dataclass(frozen=True)
class OpenAIRequest:
    line: int
    custom_id: str
    messages: list[dict[str, str]]
    system: str | None = None
    model: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()  # body fields agentbatch does not use (tools, ...)


def looks_like_openai_batch(rows: Any) -> bool:
    first = rows[0] if isinstance(rows, list) and rows else rows
    return isinstance(first, dict) and "custom_id" in first and "body" in first


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise ValueError(f"{where}: only text content parts are supported")
            parts.append(str(part.get("text", "")))
        return "\n".join(parts)
    raise ValueError(f"{where}: content must be a string or a list of text parts")


def parse_line(n: int, raw: Any) -> OpenAIRequest:
    where = f"line {n}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object with custom_id, method, url and body")
    custom_id = raw.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id.strip():
        raise ValueError(f"{where}: custom_id must be a non-empty string")
    if len(custom_id) > MAX_CUSTOM_ID:
        raise ValueError(f"{where}: custom_id is longer than {MAX_CUSTOM_ID} characters")
    if str(raw.get("method", "POST")).upper() != "POST":
        raise ValueError(f"{where}: method must be POST")
    url = raw.get("url", CHAT_URLS[0])
    if url not in CHAT_URLS:
        raise ValueError(f"{where}: url must be /v1/chat/completions (got {url!r})")
    body = raw.get("body")
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise ValueError(f"{where}: body.messages must be a list")
    system: list[str] = []
    messages: list[dict[str, str]] = []
    for i, message in enumerate(body["messages"]):
        at = f"{where}: body.messages[{i}]"
        if not isinstance(message, dict):
            raise ValueError(f"{at} must be an object with role and content")
        role = message.get("role")
        text = _text(message.get("content"), at)
        if role in ("system", "developer"):
            system.append(text)
        elif role == "user":
            if not text.strip():
                raise ValueError(f"{at}: content must not be empty")
            messages.append({"role": "user", "content": text})
        else:
            raise ValueError(
                f"{at}: role {role!r} is not supported (an agent keeps its own history; "
                "send system and user messages)"
            )
    if not messages:
        raise ValueError(f"{where}: body.messages needs at least one user message")
    model = body.get("model")
    settings = {k: body[k] for k in SETTINGS if k in body}
    if "max_completion_tokens" in settings:
        settings.setdefault("max_tokens", settings.pop("max_completion_tokens"))
    if "top_p" in settings:  # no setting of its own: sent in the body of OpenAI-format models
        settings["openai"] = {"top_p": settings.pop("top_p")}
    known = {"model", "messages", *SETTINGS}
    return OpenAIRequest(
        line=n,
        custom_id=custom_id,
        messages=messages,
        system="\n\n".join(system) if system else None,
        model=str(model) if isinstance(model, str) and model else None,
        settings=settings,
        ignored=tuple(sorted(k for k in body if k not in known)),
    )


def parse_lines(rows: Sequence[Any]) -> list[OpenAIRequest]:
    out = [parse_line(n, raw) for n, raw in enumerate(rows, 1)]
    seen: dict[str, int] = {}
    for request in out:
        if request.custom_id in seen:
            raise ValueError(
                f"line {request.line}: custom_id {request.custom_id!r} repeats line "
                f"{seen[request.custom_id]}"
            )
        seen[request.custom_id] = request.line
    return out


def model_handle(model: str | None) -> str | None:
    """An OpenAI body's ``model`` as an agentbatch handle (``gpt-4.1`` -> ``openai/gpt-4.1``)."""
    if not model:
        return None
    return model if "/" in model else f"openai/{model}"
