"""Settings of long-lived agents: context-window management and archival memory.

Every field has an ``AGENTBATCH_`` variable (``from_env``); an agent's ``model_settings``
may set its own ``context_window`` (tokens). The window of a model comes from, in order:
the agent's ``model_settings.context_window``, the ``context_window`` of its entry in the
``AGENTBATCH_PRICES`` file or its ``AGENTBATCH_PROVIDERS`` service, the built-in table
(``pricing.CONTEXT_WINDOWS``), then ``AGENTBATCH_CONTEXT_WINDOW``; a model with none of
them is not managed (its requests are sent as they are).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from agentbatch.errors import ConfigError
from agentbatch.step.window import WindowSettings

MIN_WINDOW = 256
MAX_WINDOW = 100_000_000


def _float(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _int(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class MemorySettings:
    manage_context: bool = True  # AGENTBATCH_CONTEXT_MANAGEMENT=0 turns it off
    threshold: float = 0.75  # AGENTBATCH_CONTEXT_THRESHOLD: of window - max_tokens
    target: float = 0.5  # AGENTBATCH_CONTEXT_TARGET: where eviction aims
    summary_tokens: int = 1024  # AGENTBATCH_SUMMARY_MAX_TOKENS
    default_window: int | None = None  # AGENTBATCH_CONTEXT_WINDOW: models not in the table
    embedder: str = "local"  # AGENTBATCH_EMBEDDER: "local" or "openai/<embedding model>"

    @classmethod
    def from_env(cls) -> MemorySettings:
        d = cls()
        threshold = _float("AGENTBATCH_CONTEXT_THRESHOLD", d.threshold, 0.1, 1.0)
        target = _float("AGENTBATCH_CONTEXT_TARGET", d.target, 0.05, 1.0)
        if target > threshold:
            raise ConfigError(
                f"AGENTBATCH_CONTEXT_TARGET ({target}) must not be above "
                f"AGENTBATCH_CONTEXT_THRESHOLD ({threshold})"
            )
        embedder = os.environ.get("AGENTBATCH_EMBEDDER") or d.embedder
        if embedder != "local" and not embedder.startswith("openai/"):
            raise ConfigError(
                f"AGENTBATCH_EMBEDDER must be 'local' or 'openai/<model>', got {embedder!r}"
            )
        return cls(
            manage_context=os.environ.get("AGENTBATCH_CONTEXT_MANAGEMENT", "1") not in ("0", ""),
            threshold=threshold,
            target=target,
            summary_tokens=_int("AGENTBATCH_SUMMARY_MAX_TOKENS", d.summary_tokens, 32, 100_000)
            or d.summary_tokens,
            default_window=_int("AGENTBATCH_CONTEXT_WINDOW", None, MIN_WINDOW, MAX_WINDOW),
            embedder=embedder,
        )

    @property
    def window(self) -> WindowSettings:
        return WindowSettings(self.threshold, self.target, self.summary_tokens)


@lru_cache(maxsize=1024)
def _model_window(handle: str, prices: str | None, providers: str | None) -> int | None:
    from agentbatch.pricing import context_window

    try:
        return context_window(handle)
    except (OSError, ValueError):  # an unreadable prices file: said where it is loaded
        return None


def window_for(handle: str, model_settings: Any, settings: MemorySettings) -> int | None:
    """The context window (tokens) that applies to an agent; None: not managed."""
    own = model_settings.get("context_window") if model_settings else None
    if isinstance(own, int) and not isinstance(own, bool) and own >= MIN_WINDOW:
        return own
    found = _model_window(
        handle, os.environ.get("AGENTBATCH_PRICES"), os.environ.get("AGENTBATCH_PROVIDERS")
    )
    return found if found is not None else settings.default_window
