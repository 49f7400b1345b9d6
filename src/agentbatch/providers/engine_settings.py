"""Operator settings of the batch engines added beside Anthropic and OpenAI (read once from
the environment; the adapters also take each value as a constructor argument).

- ``AGENTBATCH_GOOGLE_INLINE_MAX_BYTES`` (default 20,000,000): a Gemini batch whose
  requests fit is sent inline in the create call; a larger one goes up as a JSONL file
  through the Files API (the API's inline limit is about 20 MB).
- ``AGENTBATCH_MISTRAL_INLINE_MAX_BYTES`` (default 10,000,000): the same for Mistral.
- ``AGENTBATCH_PROVIDERS``: a TOML file of extra OpenAI-format batch services
  (see :mod:`agentbatch.providers.configured`).
- ``AGENTBATCH_OPENAI_COMPATIBLE_BASE_URL`` / ``_API_KEY``: the ``openai-compatible/``
  server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from agentbatch.errors import ConfigError


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of bytes, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class EngineSettings:
    google_inline_max_bytes: int = 20_000_000
    mistral_inline_max_bytes: int = 10_000_000
    providers_file: str | None = None
    openai_compatible_base_url: str | None = None
    openai_compatible_api_key: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EngineSettings:
        env = os.environ if env is None else env
        return cls(
            google_inline_max_bytes=_int(env, "AGENTBATCH_GOOGLE_INLINE_MAX_BYTES", 20_000_000),
            mistral_inline_max_bytes=_int(env, "AGENTBATCH_MISTRAL_INLINE_MAX_BYTES", 10_000_000),
            providers_file=env.get("AGENTBATCH_PROVIDERS") or None,
            openai_compatible_base_url=env.get("AGENTBATCH_OPENAI_COMPATIBLE_BASE_URL") or None,
            openai_compatible_api_key=env.get("AGENTBATCH_OPENAI_COMPATIBLE_API_KEY") or None,
        )
