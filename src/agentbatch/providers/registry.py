"""Model handles (``provider/model``) route each agent to its adapter, built lazily."""

from __future__ import annotations

from collections.abc import Callable

from agentbatch.errors import ConfigError, InvalidInput
from agentbatch.providers.base import BatchProvider
from agentbatch.providers.configured import BUILTIN, configured_services, make_provider
from agentbatch.providers.engine_settings import EngineSettings

KNOWN_PROVIDERS = BUILTIN


def known_providers() -> frozenset[str]:
    """Built-in prefixes and the OpenAI-format services of ``AGENTBATCH_PROVIDERS``."""
    return BUILTIN | frozenset(configured_services())


def _scripted(engines: EngineSettings) -> BatchProvider:
    from agentbatch.providers.scripted import ScriptedProvider

    return ScriptedProvider()


def _anthropic(engines: EngineSettings) -> BatchProvider:
    from agentbatch.providers.anthropic_batch import AnthropicBatchProvider

    return AnthropicBatchProvider()


def _openai(engines: EngineSettings) -> BatchProvider:
    from agentbatch.providers.openai_batch import OpenAIBatchProvider

    return OpenAIBatchProvider()


def _openai_compatible(engines: EngineSettings) -> BatchProvider:
    from agentbatch.providers.openai_compatible import OpenAICompatibleProvider

    if not engines.openai_compatible_base_url:
        raise ConfigError(
            "AGENTBATCH_OPENAI_COMPATIBLE_BASE_URL is not set (openai-compatible/ models "
            "need it, for example http://127.0.0.1:8000/v1)"
        )
    return OpenAICompatibleProvider(
        base_url=engines.openai_compatible_base_url, api_key=engines.openai_compatible_api_key
    )


def _google(engines: EngineSettings) -> BatchProvider:
    from agentbatch.providers.google import GoogleBatchProvider

    return GoogleBatchProvider(inline_max_bytes=engines.google_inline_max_bytes)


def _mistral(engines: EngineSettings) -> BatchProvider:
    from agentbatch.providers.mistral_batch import MistralBatchProvider

    return MistralBatchProvider(inline_max_bytes=engines.mistral_inline_max_bytes)


def _openrouter(engines: EngineSettings) -> BatchProvider:
    from agentbatch.providers.openrouter_batch import OpenRouterBatchProvider

    return OpenRouterBatchProvider()


def _local(engines: EngineSettings) -> BatchProvider:
    from agentbatch.providers.local import LocalProvider

    return LocalProvider()


_FACTORIES: dict[str, Callable[[EngineSettings], BatchProvider]] = {
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

    def __init__(
        self,
        providers: dict[str, BatchProvider] | None = None,
        *,
        engines: EngineSettings | None = None,
    ) -> None:
        self._providers: dict[str, BatchProvider] = dict(providers or {})
        self.engines = engines or EngineSettings.from_env()

    def register(self, name: str, provider: BatchProvider) -> None:
        self._providers[name] = provider

    def get(self, name: str) -> BatchProvider:
        provider = self._providers.get(name)
        if provider is None:
            factory = _FACTORIES.get(name)
            services = configured_services(self.engines.providers_file)
            service = services.get(name) if factory is None else None
            if factory is None and service is None:
                raise InvalidInput(f"unknown provider {name!r}")
            provider = self._providers[name] = (
                factory(self.engines) if factory is not None else make_provider(service)  # type: ignore[arg-type]
            )
        return provider

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()
