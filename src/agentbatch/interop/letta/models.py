"""Model handles and settings between Letta (``model`` / ``llm_config``) and ours."""

from __future__ import annotations

from typing import Any

from agentbatch.interop.letta import schema as s
from agentbatch.providers.registry import KNOWN_PROVIDERS

# Letta providers that serve an OpenAI-compatible chat API: they become
# ``openai-compatible/<model>`` (set AGENTBATCH_OPENAI_COMPATIBLE_BASE_URL to the server)
OPENAI_COMPATIBLE = frozenset(
    {
        "vllm",
        "ollama",
        "lmstudio",
        "lmstudio_openai",
        "lmstudio-chatcompletions",
        "llamacpp",
        "sglang",
        "koboldcpp",
        "webui",
    }
)
# Letta providers whose models we run through the Gemini API (google/<model>)
GOOGLE = frozenset({"google_ai", "google_vertex"})
# what our providers are called in Letta's llm_config.model_endpoint_type
ENDPOINT_TYPES = {
    "anthropic": "anthropic",
    "openai": "openai",
    "google": "google_ai",
    "mistral": "mistral",
    "openai-compatible": "openai",
    "local": "llamacpp",
    "scripted": "openai",
}
CONTEXT_WINDOWS = {"anthropic": 200_000, "openai": 128_000, "google": 1_048_576}
LETTA_SETTINGS = frozenset({"max_tokens", "temperature"})


class UnsupportedModel(ValueError):
    pass


def letta_handle(agent: s.AgentFile) -> str | None:
    if agent.model:
        return agent.model
    cfg = agent.llm_config
    if cfg is None:
        return None
    if cfg.handle:
        return cfg.handle
    return f"{cfg.model_endpoint_type or 'openai'}/{cfg.model}"


def our_handle(handle: str, endpoint_type: str | None = None) -> tuple[str, str | None]:
    """(our handle, a note when it changed); UnsupportedModel when nothing fits."""
    provider, sep, model = handle.partition("/")
    if not sep or not provider or not model:
        raise UnsupportedModel(f"model handle {handle!r} must look like provider/model")
    if provider in KNOWN_PROVIDERS:
        return handle, None
    if provider in OPENAI_COMPATIBLE or endpoint_type in OPENAI_COMPATIBLE:
        ours = f"openai-compatible/{model}"
        return ours, (
            f"model {handle} -> {ours} (set AGENTBATCH_OPENAI_COMPATIBLE_BASE_URL to the server)"
        )
    if provider in GOOGLE or endpoint_type in GOOGLE:
        ours = f"google/{model}"
        via = " through the Gemini API (GEMINI_API_KEY)" if "vertex" in handle else ""
        return ours, f"model {handle} -> {ours}{via}"
    if endpoint_type in ("anthropic", "openai"):
        ours = f"{endpoint_type}/{model}"
        return ours, f"model {handle} -> {ours} (Letta provider {provider!r} is {endpoint_type})"
    known = ", ".join(sorted(KNOWN_PROVIDERS))
    raise UnsupportedModel(
        f"model {handle!r}: provider {provider!r} is not one agentbatch runs ({known}); "
        "pass --model provider/model to choose one"
    )


def settings_from_letta(agent: s.AgentFile) -> dict[str, Any]:
    """max_tokens and temperature, where the file sets them (Letta fills defaults otherwise),
    plus the provider options we stored under metadata.agentbatch on export."""
    out: dict[str, Any] = {}
    cfg = agent.llm_config
    if cfg is not None:
        for key in LETTA_SETTINGS & cfg.model_fields_set:
            value = getattr(cfg, key)
            if value is not None:
                out[key] = value
    ms = agent.model_settings or {}
    if isinstance(ms.get("max_output_tokens"), int):
        out["max_tokens"] = ms["max_output_tokens"]
    if isinstance(ms.get("temperature"), int | float):
        out["temperature"] = ms["temperature"]
    extras = ((agent.metadata or {}).get("agentbatch") or {}).get("model_settings")
    if isinstance(extras, dict):
        out.update((k, v) for k, v in extras.items() if k not in out)
    return out


def llm_config_for(handle: str, settings: dict[str, Any]) -> dict[str, Any]:
    provider, _, model = handle.partition("/")
    cfg: dict[str, Any] = {
        "model": model,
        "model_endpoint_type": ENDPOINT_TYPES.get(provider, "openai"),
        "context_window": CONTEXT_WINDOWS.get(provider, 32_768),
        "handle": handle,
    }
    for key in ("max_tokens", "temperature"):
        if settings.get(key) is not None:
            cfg[key] = settings[key]
    return cfg


def settings_extras(settings: dict[str, Any]) -> dict[str, Any]:
    """Our model settings Letta has no place for (provider options): kept in metadata."""
    return {k: v for k, v in settings.items() if k not in LETTA_SETTINGS}
