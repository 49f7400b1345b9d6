"""OpenAI-format batch services as their own provider prefixes, from a TOML file named by
``AGENTBATCH_PROVIDERS``. Each runs through the ``openai/`` adapter (JSONL upload to
``/v1/files``, ``/v1/batches``) with its own base URL, key variable, limits and prices::

    [providers.together]
    base_url = "https://api.together.xyz/v1"
    api_key_env = "TOGETHER_API_KEY"
    max_requests = 50000            # optional (default 50,000)
    max_bytes = 100_000_000         # optional (default 100 MB)

    [providers.together.models."meta-llama/Llama-3.3-70B-Instruct-Turbo"]
    input = 0.88                    # USD per million tokens, list price
    output = 0.88
    batch_discount = 0.5            # optional (default 0.5)
    context_window = 131072         # optional

An agent then uses ``together/meta-llama/Llama-3.3-70B-Instruct-Turbo``. A name may not
shadow a built-in prefix. Bad files are a ``ConfigError`` naming the file and the field.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from agentbatch.errors import ConfigError
from agentbatch.providers.base import BatchLimits, BatchProvider

BUILTIN = frozenset(
    {
        "scripted",
        "anthropic",
        "openai",
        "openai-compatible",
        "local",
        "google",
        "mistral",
        "openrouter",
    }
)
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")


@dataclass(frozen=True)
class ModelEntry:
    input: float
    output: float
    cache_read: float
    batch_discount: float = 0.5
    context_window: int | None = None


@dataclass(frozen=True)
class Service:
    name: str
    base_url: str
    api_key_env: str
    limits: BatchLimits
    models: dict[str, ModelEntry] = field(default_factory=dict)


def _number(value: Any, where: str, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"{where} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def parse_services(data: dict[str, Any], source: str) -> dict[str, Service]:
    services: dict[str, Service] = {}
    table = data.get("providers", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [providers] must be a table")
    for name, raw in table.items():
        where = f"{source}: providers.{name}"
        if not _NAME.match(name) or name in BUILTIN:
            raise ConfigError(
                f"{where}: the name must be lowercase [a-z0-9-] and not a built-in prefix"
            )
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be a table")
        base_url, key_env = raw.get("base_url"), raw.get("api_key_env")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.base_url must be an http(s) URL")
        if not isinstance(key_env, str) or not _ENV.match(key_env):
            raise ConfigError(f"{where}.api_key_env must name an environment variable")
        limits = BatchLimits(
            int(_number(raw.get("max_requests", 50_000), f"{where}.max_requests", minimum=1)),
            int(_number(raw.get("max_bytes", 100_000_000), f"{where}.max_bytes", minimum=1)),
        )
        models: dict[str, ModelEntry] = {}
        for model, price in (raw.get("models") or {}).items():
            at = f"{where}.models.{model}"
            if not isinstance(price, dict):
                raise ConfigError(f"{at} must be a table")
            inp = _number(price.get("input"), f"{at}.input")
            window = price.get("context_window")
            models[str(model)] = ModelEntry(
                input=inp,
                output=_number(price.get("output"), f"{at}.output"),
                cache_read=_number(price.get("cache_read", inp), f"{at}.cache_read"),
                batch_discount=_number(price.get("batch_discount", 0.5), f"{at}.batch_discount"),
                context_window=int(_number(window, f"{at}.context_window", minimum=1))
                if window is not None
                else None,
            )
        services[name] = Service(name, base_url.rstrip("/"), key_env, limits, models)
    return services


@lru_cache(maxsize=8)
def _load(path: str) -> dict[str, Service]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"AGENTBATCH_PROVIDERS: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"AGENTBATCH_PROVIDERS: {path} is not valid TOML: {exc}") from None
    return parse_services(data, path)


def configured_services(path: str | None = None) -> dict[str, Service]:
    """The services of ``path`` (default: the file ``AGENTBATCH_PROVIDERS`` names)."""
    path = path if path is not None else os.environ.get("AGENTBATCH_PROVIDERS")
    return _load(path) if path else {}


def make_provider(service: Service) -> BatchProvider:
    from agentbatch.providers.openai_batch import OpenAIBatchProvider

    key = os.environ.get(service.api_key_env)
    if not key:
        raise ConfigError(
            f"{service.api_key_env} is not set ({service.name}/ models need an API key)"
        )
    provider = OpenAIBatchProvider(api_key=key, base_url=service.base_url)
    provider.name = service.name
    provider.limits = service.limits
    return provider
