"""Model handles (``provider/model``) route each agent to its adapter, built lazily."""

from __future__ import annotations

import os
from collections.abc import Callable

from agentbatch.errors import ConfigError, InvalidInput
from agentbatch.providers.base import BatchProvider
from agentbatch.providers.configured import BUILTIN, configured_services, make_provider

KNOWN_PROVIDERS = BUILTIN


def known_providers() -> frozenset[str]:
    """Built-in prefixes and the OpenAI-format services of ``AGENTBATCH_PROVIDERS``."""
    return BUILTIN | frozenset(configured_services())


def _scripted() -> BatchProvider:
    from agentbatch.providers.scripted import ScriptedProvider

    return ScriptedProvider()


def _anthropic() -> BatchProvider:
    from agentbatch.providers.anthropic_batch import AnthropicBatchProvider

    return AnthropicBatchProvider()


def _openai() -> BatchProvider:
    from agentbatch.providers.openai_batch import OpenAIBatchProvider

    return OpenAIBatchProvider()


def _openai_compatible() -> BatchProvider:
    from agentbatch.providers.openai_compatible import OpenAICompatibleProvider

    base_url = os.environ.get("AGENTBATCH_OPENAI_COMPATIBLE_BASE_URL")
    if not base_url:
        raise ConfigError(
            "openai-compatible/ models need AGENTBATCH_OPENAI_COMPATIBLE_BASE_URL "
            "(for example http://127.0.0.1:8000/v1)"
        )
    key = os.environ.get("AGENTBATCH_OPENAI_COMPATIBLE_API_KEY")
    return OpenAICompatibleProvider(base_url=base_url, api_key=key)


def _google() -> BatchProvider:
    from agentbatch.providers.google import GoogleBatchProvider

    return GoogleBatchProvider()


def _mistral() -> BatchProvider:
    from agentbatch.providers.mistral_batch import MistralBatchProvider

    return MistralBatchProvider()


def _openrouter() -> BatchProvider:
    from agentbatch.providers.openrouter_batch import OpenRouterBatchProvider

    return OpenRouterBatchProvider()


def _local() -> BatchProvider:
    from agentbatch.providers.local import LocalProvider

    return LocalProvider()


_FACTORIES: dict[str, Callable[[], BatchProvider]] = {
    "scripted": _scripted,
    "anthropic": _anthropic,
    "openai": _openai,
    "openai-compatible": _openai_compatible,
    "local": _local,
    "google": _google,
    "mistral": _mistral,
    "openrouter": _openrouter,
}


class ProviderRegistry:
    """Provider instances by handle prefix; tests and embedders register their own."""

    def __init__(self, providers: dict[str, BatchProvider] | None = None) -> None:
        self._providers: dict[str, BatchProvider] = dict(providers or {})

    def register(self, name: str, provider: BatchProvider) -> None:
        self._providers[name] = provider

    def get(self, name: str) -> BatchProvider:
        provider = self._providers.get(name)
        if provider is None:
            factory = _FACTORIES.get(name)
            service = configured_services().get(name) if factory is None else None
            if factory is None and service is None:
                raise InvalidInput(f"unknown provider {name!r}")
            provider = self._providers[name] = (
                factory() if factory is not None else make_provider(service)  # type: ignore[arg-type]
            )
        return provider

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()
