"""Token prices and job cost: batch discount and prompt-cache savings.

Prices are USD per million tokens at list (non-batch) rates; ``AGENTBATCH_PRICES`` may
name a JSON file ``{"provider/model": {"input": .., "output": .., "cache_read": ..,
"cache_write": .., "batch_discount": 0.5, "context_window": ..}}`` that overrides or
extends the table; services from ``AGENTBATCH_PROVIDERS`` bring their own prices.
Unknown models (scripted, local) cost nothing and are listed as unpriced."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_read: float
    cache_write: float
    batch_discount: float = 0.5


DEFAULT_PRICES: dict[str, Price] = {
    "anthropic/claude-sonnet-4-5": Price(3.0, 15.0, 0.30, 6.0),
    "anthropic/claude-haiku-4-5": Price(1.0, 5.0, 0.10, 2.0),
    "anthropic/claude-opus-4-1": Price(15.0, 75.0, 1.50, 30.0),
    "openai/gpt-4.1": Price(2.0, 8.0, 0.50, 2.0),
    "openai/gpt-4.1-mini": Price(0.40, 1.60, 0.10, 0.40),
    "openai/gpt-4o-mini": Price(0.15, 0.60, 0.075, 0.15),
    "openai/o4-mini": Price(1.10, 4.40, 0.275, 1.10),
    # Gemini: implicit caching bills cached input at 10%; nothing is billed for writing
    "google/gemini-2.5-pro": Price(1.25, 10.0, 0.125, 0.0),
    "google/gemini-2.5-flash": Price(0.30, 2.50, 0.03, 0.0),
    "google/gemini-2.5-flash-lite": Price(0.10, 0.40, 0.01, 0.0),
    "mistral/mistral-large-latest": Price(0.50, 1.50, 0.50, 0.0),
    "mistral/mistral-medium-latest": Price(0.40, 2.00, 0.40, 0.0),
    "mistral/mistral-small-latest": Price(0.10, 0.30, 0.10, 0.0),
    "openrouter/openai/gpt-4o-mini": Price(0.15, 0.60, 0.075, 0.15),
    "openrouter/google/gemini-2.5-flash": Price(0.30, 2.50, 0.03, 0.0),
}

# tokens a model reads at most (prompt + answer), as the providers publish them; the
# AGENTBATCH_PRICES file and AGENTBATCH_PROVIDERS services may add ``context_window``
CONTEXT_WINDOWS: dict[str, int] = {
    "anthropic/claude-sonnet-4-5": 200_000,
    "anthropic/claude-haiku-4-5": 200_000,
    "anthropic/claude-opus-4-1": 200_000,
    "openai/gpt-4.1": 1_047_576,
    "openai/gpt-4.1-mini": 1_047_576,
    "openai/gpt-4o-mini": 128_000,
    "openai/o4-mini": 200_000,
    "google/gemini-2.5-pro": 1_048_576,
    "google/gemini-2.5-flash": 1_048_576,
    "google/gemini-2.5-flash-lite": 1_048_576,
    "mistral/mistral-large-latest": 262_144,
    "mistral/mistral-medium-latest": 131_072,
    "mistral/mistral-small-latest": 131_072,
    "openrouter/openai/gpt-4o-mini": 128_000,
    "openrouter/google/gemini-2.5-flash": 1_048_576,
    "local/smollm2": 4_096,  # the embedded model's llama.cpp context (providers.local.engine)
}


def context_window(handle: str, path: str | None = None) -> int | None:
    """The model's context window in tokens (None when unknown)."""
    source = path or os.environ.get("AGENTBATCH_PRICES")
    if source:
        entry = json.loads(Path(source).read_text()).get(handle)
        if isinstance(entry, dict) and isinstance(entry.get("context_window"), int):
            return int(entry["context_window"])
    provider, _, model = handle.partition("/")
    service = _configured().get(provider)
    if service is not None and model in service.models:
        window = service.models[model].context_window
        if window is not None:
            return window
    return CONTEXT_WINDOWS.get(handle)


def _configured() -> dict[str, Any]:
    from agentbatch.providers.configured import configured_services

    return configured_services()


class PriceTable:
    def __init__(self, prices: Mapping[str, Price]) -> None:
        self.prices = dict(prices)

    @classmethod
    def load(cls, path: str | None = None) -> PriceTable:
        prices = dict(DEFAULT_PRICES)
        for name, service in _configured().items():
            for model, entry in service.models.items():
                prices[f"{name}/{model}"] = Price(
                    entry.input, entry.output, entry.cache_read, 0.0, entry.batch_discount
                )
        source = path or os.environ.get("AGENTBATCH_PRICES")
        if source:
            data = json.loads(Path(source).read_text())
            for model, p in data.items():
                prices[model] = Price(
                    float(p["input"]),
                    float(p["output"]),
                    float(p.get("cache_read", p["input"] * 0.1)),
                    float(p.get("cache_write", p["input"] * 1.25)),
                    float(p.get("batch_discount", 0.5)),
                )
        return cls(prices)

    def job_cost(self, rows: Iterable[Any]) -> dict[str, Any]:
        """From per-model token sums: what the job cost, and what it would have cost live
        and without caching."""
        total = live = uncached = 0.0
        unpriced: list[str] = []
        for row in rows:
            price = self.prices.get(row.model)
            if price is None:
                if (row.input_tokens or 0) + (row.output_tokens or 0):
                    unpriced.append(row.model)
                continue
            inp, out = int(row.input_tokens or 0), int(row.output_tokens or 0)
            cr, cw = int(row.cache_read_tokens or 0), int(row.cache_write_tokens or 0)
            list_cost = (
                inp * price.input
                + out * price.output
                + cr * price.cache_read
                + cw * price.cache_write
            ) / 1e6
            no_cache = ((inp + cr + cw) * price.input + out * price.output) / 1e6
            factor = 1.0 - price.batch_discount
            total += list_cost * factor
            live += list_cost
            uncached += no_cache * factor
        return {
            "usd": round(total, 6),
            "live_usd": round(live, 6),
            "batch_savings_usd": round(live - total, 6),
            "cache_savings_usd": round(uncached - total, 6),
            "unpriced_models": sorted(set(unpriced)),
        }

    def price_of(self, handle: str) -> Price | None:
        return self.prices.get(handle)

    def route_cost(self, run_rows: Iterable[Any], live_rows: Iterable[Any]) -> dict[str, Any]:
        """``job_cost`` with the live calls priced at the live rate: ``run_rows`` are per
        model token sums of every applied step, ``live_rows`` those of the steps sent
        through a live API (and how many requests). Adds ``by_route`` (tokens and USD of
        the batch part and the live part)."""
        live = {r.model: r for r in live_rows}
        routes: dict[str, dict[str, Any]] = {
            name: dict.fromkeys((*_TOKENS, "usd", "requests"), 0) for name in _ROUTES
        }
        total = at_list = uncached = 0.0
        unpriced: list[str] = []
        for row in run_rows:
            run_tokens = _tokens(row)
            live_tokens = _tokens(live.get(row.model))
            batch_tokens = {k: max(0, run_tokens[k] - live_tokens[k]) for k in _TOKENS}
            price = self.prices.get(row.model)
            if price is None:
                if sum(run_tokens.values()):
                    unpriced.append(row.model)
                for name, tokens in (("batch", batch_tokens), ("live", live_tokens)):
                    for k in _TOKENS:
                        routes[name][k] += tokens[k]
                continue
            for name, tokens, factor in (
                ("batch", batch_tokens, 1.0 - price.batch_discount),
                ("live", live_tokens, 1.0),
            ):
                usd = _list_usd(price, tokens) * factor
                routes[name]["usd"] += usd
                total += usd
                at_list += _list_usd(price, tokens)
                plain = (
                    (tokens["input_tokens"] + tokens["cache_read_tokens"]) * price.input
                    + tokens["cache_write_tokens"] * price.input
                    + tokens["output_tokens"] * price.output
                ) / 1e6
                uncached += plain * factor
                for k in _TOKENS:
                    routes[name][k] += tokens[k]
        for route in routes.values():
            route["usd"] = round(route["usd"], 6)
        return {
            "usd": round(total, 6),
            "live_usd": round(at_list, 6),
            "batch_savings_usd": round(at_list - total, 6),
            "cache_savings_usd": round(uncached - total, 6),
            "unpriced_models": sorted(set(unpriced)),
            "by_route": routes,
        }


_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
_ROUTES = ("batch", "live")


def _tokens(row: Any) -> dict[str, int]:
    return {k: int(getattr(row, k, 0) or 0) for k in _TOKENS}


def _list_usd(price: Price, t: dict[str, int]) -> float:
    return (
        t["input_tokens"] * price.input
        + t["output_tokens"] * price.output
        + t["cache_read_tokens"] * price.cache_read
        + t["cache_write_tokens"] * price.cache_write
    ) / 1e6


def cache_phrase(savings: float) -> str:
    """Cache writes cost more than plain input: a short job can pay more than it saves."""
    if round(savings, 4) < 0:
        return f"cache costs ${-savings:.4f}"
    return f"cache saves ${abs(savings):.4f}"


def savings_notes(cost: dict[str, Any]) -> list[str]:
    """The short notes beside a cost (``batch saves $0.0123``, ``cache costs $0.0001``);
    savings that round to nothing are left out."""
    notes = []
    if round(float(cost.get("batch_savings_usd") or 0), 4):
        notes.append(f"batch saves ${cost['batch_savings_usd']:.4f}")
    if round(float(cost.get("cache_savings_usd") or 0), 4):
        notes.append(cache_phrase(cost["cache_savings_usd"]))
    return notes
