"""Token prices and job cost: batch discount and prompt-cache savings.

Prices are USD per million tokens at list (non-batch) rates; ``AGENTBATCH_PRICES`` may
name a JSON file ``{"provider/model": {"input": .., "output": .., "cache_read": ..,
"cache_write": .., "batch_discount": 0.5}}`` that overrides or extends the table.
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
}


class PriceTable:
    def __init__(self, prices: Mapping[str, Price]) -> None:
        self.prices = dict(prices)

    @classmethod
    def load(cls, path: str | None = None) -> PriceTable:
        prices = dict(DEFAULT_PRICES)
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
