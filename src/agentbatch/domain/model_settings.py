"""What an agent's ``model_settings`` may hold, checked when an agent is created or changed
(API, CLI, Python) so that a bad value is a clear error then, not a failed run later.

Every key is known and typed; an unknown key is refused with a "did you mean" (a typo such as
``max_token`` would otherwise be ignored without a word). Provider-specific request fields go
inside the provider's own object (``openai``, ``google``, ``mistral``), which is merged into
the request body as it is."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

from agentbatch.memory_settings import MAX_WINDOW, MIN_WINDOW
from agentbatch.providers.scripted_model import validate_script

MAX_OUTPUT_TOKENS = 128_000  # the most any supported model writes in one reply
ENDPOINTS = ("chat", "responses")  # openai/ models only
ENDPOINT_PROVIDERS = frozenset({"openai"})


def _int(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be a whole number from {low:,} to {high:,} (got {value!r})"
        if not low <= value <= high:
            return f"must be from {low:,} to {high:,} (got {value:,})"
        return None

    return check


def _number(low: float, high: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number from {low:g} to {high:g} (got {value!r})"
        if not low <= value <= high:
            return f"must be from {low:g} to {high:g} (got {value!r})"
        return None

    return check


def _object(value: Any) -> str | None:
    return None if isinstance(value, Mapping) else f"must be a JSON object (got {value!r})"


def _choice(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value not in choices:
            return f"must be one of {', '.join(map(repr, choices))} (got {value!r})"
        return None

    return check


def _script(value: Any) -> str | None:
    try:
        validate_script(value)
    except ValueError as exc:
        return f"is not a valid script: {exc}"
    return None


def _fail_list(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return f"must be a list of outcomes such as 'errored' (got {value!r})"
    return None


CHECKS: dict[str, Callable[[Any], str | None]] = {
    "max_tokens": _int(1, MAX_OUTPUT_TOKENS),
    "temperature": _number(0, 2),
    "context_window": _int(MIN_WINDOW, MAX_WINDOW),
    "endpoint": _choice(*ENDPOINTS),
    "cache_conversation": _choice("auto", "1h", "5m", "off"),  # Anthropic
    "thinking": _object,  # Anthropic's ``thinking``, Gemini's ``thinkingConfig``
    "reasoning": _object,  # OpenAI Responses ``reasoning``
    "openai": _object,  # merged into the request body of openai/, openrouter/ and
    "google": _object,  # OpenAI-compatible services; google/ and mistral/ likewise
    "mistral": _object,
    "seed": _int(0, 2**31 - 1),  # local/ models
    "script": _script,  # scripted/ models
    "polls": _int(0, 1_000_000),
    "summary_fail": _fail_list,
}
KNOWN = tuple(CHECKS)


def setting_problem(key: str, value: Any) -> str | None:
    """Why ``model_settings[key] = value`` is not acceptable (None when it is)."""
    check = CHECKS.get(key)
    if check is None:
        close = difflib.get_close_matches(key, KNOWN, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"model_settings: unknown setting {key!r} ({hint}known: {', '.join(KNOWN)})"
    problem = check(value)
    return f"model_settings.{key} {problem}" if problem else None


def settings_problem(settings: Mapping[str, Any] | None, provider: str | None = None) -> str | None:
    """The first reason ``settings`` is not acceptable for a model of ``provider`` (None
    when they are)."""
    if not settings:
        return None
    for key, value in settings.items():
        problem = setting_problem(str(key), value)
        if problem is not None:
            return problem
    window, max_tokens = settings.get("context_window"), settings.get("max_tokens") or 1024
    if window is not None and max_tokens >= window:
        return "model_settings.max_tokens must be below model_settings.context_window"
    if provider is not None and "endpoint" in settings and provider not in ENDPOINT_PROVIDERS:
        return (
            f"model_settings.endpoint is not available for {provider}/ models "
            "(openai/ models take 'chat' or 'responses')"
        )
    return None
