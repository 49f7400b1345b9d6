"""The bench through a provider emulator: ``agentbatch bench --provider anthropic-emulator``
(or ``openai-``, ``google-``, ``mistral-``, ``openrouter-emulator``) runs the official SDK against an in-process emulator with instant
batches and no faults, answering the bench's steps from the same script the bench uses.

The emulator shares the bench's process (a uvicorn thread), so the bench's wall time
includes the emulator's own work (HTTP parsing, request validation, scripted answers, JSON
results). ``AGENTBATCH_BENCH_EMULATOR_URL`` points the adapter at an emulator already
running in another process instead, which separates agentbatch's own time from the
emulator's: serve ``bench_script(steps)`` as JSON with ``agentbatch emulate anthropic
--port P --script bench.json`` (a fresh emulator per run: its state grows).
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from agentbatch.providers.base import BatchProvider

MODELS = {
    "anthropic-emulator": "anthropic/claude-sonnet-4-5",
    "openai-emulator": "openai/gpt-4.1-mini",
    "google-emulator": "google/gemini-2.5-flash",
    "mistral-emulator": "mistral/mistral-small-latest",
    "openrouter-emulator": "openrouter/openai/gpt-4o-mini",
}
BENCH_KEY = "bench"


class Stoppable(Protocol):
    def stop(self) -> None: ...


class _External:
    """An emulator the bench did not start: nothing to stop."""

    def __init__(self, url: str) -> None:
        self.url = url

    def stop(self) -> None:
        return None


def _serve(name: str, script: list[dict[str, Any]]) -> Any:
    """The emulator's server (``.url`` without ``/v1``, ``.stop()``)."""
    external = os.environ.get("AGENTBATCH_BENCH_EMULATOR_URL")
    if external:
        return _External(external.rstrip("/").removesuffix("/v1"))
    if name == "anthropic-emulator":
        from agentbatch.testing.anthropic import AnthropicEmulator

        return AnthropicEmulator(script).serve()
    if name == "google-emulator":
        from agentbatch.testing.google import GoogleEmulator

        return GoogleEmulator(script).serve()
    if name == "mistral-emulator":
        from agentbatch.testing.mistral import MistralEmulator

        return MistralEmulator(script).serve()
    if name == "openrouter-emulator":
        from agentbatch.testing.openrouter import OpenRouterEmulator

        return OpenRouterEmulator(script).serve()
    from agentbatch.testing.openai import OpenAIEmulator

    return OpenAIEmulator(script).serve()


def emulated_provider(name: str, steps: int) -> tuple[BatchProvider, str, Stoppable]:
    """Start the ``name`` emulator in-process (instant batches, no faults) answering the
    bench's ``steps``-step script; return the adapter pointed at it (``api_key="bench"``),
    the model handle for the bench's agents, and the server (``.stop()`` ends it)."""
    from agentbatch.bench import bench_script

    if name not in MODELS:
        raise ValueError(f"unknown emulated provider {name!r}; pick one of {sorted(MODELS)}")
    server = _serve(name, bench_script(steps))
    provider: BatchProvider
    if name == "anthropic-emulator":
        from agentbatch.providers.anthropic import AnthropicBatchProvider

        provider = AnthropicBatchProvider(api_key=BENCH_KEY, base_url=server.url)
    elif name == "google-emulator":
        from agentbatch.providers.google import GoogleBatchProvider

        provider = GoogleBatchProvider(api_key=BENCH_KEY, base_url=server.url)
    elif name == "mistral-emulator":
        from agentbatch.providers.mistral_batch import MistralBatchProvider

        provider = MistralBatchProvider(api_key=BENCH_KEY, base_url=server.url)
    elif name == "openrouter-emulator":
        from agentbatch.providers.openrouter_batch import OpenRouterBatchProvider

        provider = OpenRouterBatchProvider(api_key=BENCH_KEY, base_url=f"{server.url}/api/v1")
    else:
        from agentbatch.providers.openai_batch import OpenAIBatchProvider

        provider = OpenAIBatchProvider(api_key=BENCH_KEY, base_url=f"{server.url}/v1")
    return provider, MODELS[name], server
