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
from datetime import UTC, datetime, timedelta
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


class SteppingClock:
    """Emulated time in which step ``k`` of a run is sent ``k * gap_s`` after its first:
    each step waits one batch turnaround (prompt-cache entries expire on this time)."""

    def __init__(self, gap_s: float) -> None:
        self.start = self.now = datetime.now(UTC)
        self.gap = timedelta(seconds=gap_s)

    def __call__(self) -> datetime:
        return self.now

    def at_step(self, step: int) -> None:
        self.now = max(self.now, self.start + step * self.gap)


def _anthropic(script: list[dict[str, Any]], batch_gap_s: float) -> Any:
    from agentbatch.testing.anthropic import AnthropicEmulator

    clock = SteppingClock(batch_gap_s)
    emulator = AnthropicEmulator(script, clock=clock)
    create = emulator.create_batch

    def create_later(requests: Any) -> Any:
        if requests:
            messages = requests[0]["params"].get("messages") or []
            clock.at_step(sum(1 for m in messages if m.get("role") == "assistant"))
        return create(requests)

    emulator.create_batch = create_later  # type: ignore[method-assign]
    server = emulator.serve()
    server.emulator = emulator  # type: ignore[attr-defined]
    return server


def anthropic_billed_usd(server: Any, model: str) -> float | None:
    """What the emulated Anthropic bills for every request it answered, at its rates per
    cache ttl (5-minute writes 1.25x the input price, 1-hour writes 2x, reads 0.1x) and
    the batch discount; None for other emulators."""
    emulator = getattr(server, "emulator", None)
    if emulator is None:
        return None
    from agentbatch.pricing import DEFAULT_PRICES

    price = DEFAULT_PRICES[model]
    total = 0.0
    with emulator.lock:
        results = [r for b in emulator.batches.values() for _, r in b.items]
    for result in results:
        if result.get("type") != "succeeded":
            continue
        usage = result["message"]["usage"]
        split = usage.get("cache_creation") or {}
        total += (
            usage["input_tokens"] * price.input
            + usage["output_tokens"] * price.output
            + usage["cache_read_input_tokens"] * price.cache_read
            + split.get("ephemeral_5m_input_tokens", 0) * price.input * 1.25
            + split.get("ephemeral_1h_input_tokens", 0) * price.input * 2.0
        )
    return round(total / 1e6 * (1 - price.batch_discount), 6)


def _serve(name: str, script: list[dict[str, Any]], batch_gap_s: float = 0.0) -> Any:
    """The emulator's server (``.url`` without ``/v1``, ``.stop()``)."""
    external = os.environ.get("AGENTBATCH_BENCH_EMULATOR_URL")
    if external:
        return _External(external.rstrip("/").removesuffix("/v1"))
    if name == "anthropic-emulator":
        return _anthropic(script, batch_gap_s)
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


def emulated_provider(
    name: str, steps: int, *, script: str = "memory", batch_gap_s: float = 0.0
) -> tuple[BatchProvider, str, Stoppable]:
    """Start the ``name`` emulator in-process (instant batches, no faults) answering the
    bench's ``steps``-step script; return the adapter pointed at it (``api_key="bench"``),
    the model handle for the bench's agents, and the server (``.stop()`` ends it).
    ``batch_gap_s``: the Anthropic emulator's clock moves on this much with each batch."""
    from agentbatch.bench import bench_script

    if name not in MODELS:
        raise ValueError(f"unknown emulated provider {name!r}; pick one of {sorted(MODELS)}")
    server = _serve(name, bench_script(steps, script), batch_gap_s)
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
