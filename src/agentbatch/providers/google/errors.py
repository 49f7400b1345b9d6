"""Gemini SDK exceptions as the runtime's ``ProviderError``: HTTP status and ``details``
decide whether it is retryable, a missing batch is ``UnknownBatch``, a bad key
``ProviderConfigError``; the wait comes from ``retry-after`` or a ``RetryInfo`` detail."""

from __future__ import annotations

import re

import httpx
from google.genai import errors as genai_errors

from agentbatch.errors import ProviderConfigError, ProviderError, UnknownBatch

RETRYABLE_STATUS = frozenset({408, 409, 429})
_DELAY = re.compile(r"^([0-9.]+)s$")
try:  # the SDK may talk through httpx2, a fork with its own exception classes
    import httpx2

    TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
        httpx.TransportError,
        httpx2.TransportError,
    )
except ImportError:  # pragma: no cover - httpx2 comes with google-genai
    TRANSPORT_ERRORS = (httpx.TransportError,)


def _retry_after(exc: genai_errors.APIError) -> float | None:
    headers = getattr(exc.response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    details = exc.details.get("error", exc.details) if isinstance(exc.details, dict) else {}
    for detail in details.get("details") or () if isinstance(details, dict) else ():
        match = (
            _DELAY.match(str(detail.get("retryDelay") or "")) if isinstance(detail, dict) else None
        )
        if match:
            return float(match.group(1))
    return None


def map_error(exc: BaseException, action: str, handle: str | None = None) -> ProviderError:
    """An SDK exception as the runtime's ProviderError (never includes credentials)."""
    if isinstance(exc, genai_errors.APIError):
        code = int(exc.code or 0)
        text = f"gemini {action}: HTTP {code} {exc.status or ''}: {exc.message or ''}".rstrip()
        if code == 404 and handle is not None:
            return UnknownBatch(f"gemini has no batch {handle!r} ({text})")
        if (
            code in (401, 403)
            or "API_KEY_INVALID" in str(exc.details)
            or (code == 400 and "API key not valid" in str(exc.message))
        ):
            return ProviderConfigError(f"{text} (check GEMINI_API_KEY)")
        retryable = code in RETRYABLE_STATUS or code >= 500
        return ProviderError(text, retryable=retryable, retry_after=_retry_after(exc))
    if isinstance(exc, TRANSPORT_ERRORS):
        return ProviderError(f"gemini {action}: {type(exc).__name__}: {exc}", retryable=True)
    return ProviderError(f"gemini {action}: {type(exc).__name__}: {exc}", retryable=False)
