"""The bench's cost line: billed USD per agent-step against the live price of the same
tokens without prompt caching, and (Anthropic emulator) the emulator's own bill per ttl."""

from __future__ import annotations

from typing import Any

from agentbatch.pricing import PriceTable


def cost_report(job: dict[str, Any], agent_steps: int, model: str) -> dict[str, Any]:
    """What the job was billed per agent-step, against the live price of the same tokens
    without prompt caching (what a live agent loop that does not cache pays)."""
    cost, usage = job["cost"], job["usage"]
    price = PriceTable.load().price_of(model)
    uncached_live = 0.0
    if price is not None:
        tokens_in = usage["input_tokens"] + usage["cache_read_tokens"] + usage["cache_write_tokens"]
        uncached_live = (tokens_in * price.input + usage["output_tokens"] * price.output) / 1e6

    def per(usd: float) -> float | None:
        return round(usd / agent_steps, 8) if agent_steps else None

    return {
        "usd": cost["usd"],
        "usd_per_agent_step": per(cost["usd"]),
        "live_usd_per_agent_step": per(uncached_live),
        "fraction_of_live": round(cost["usd"] / uncached_live, 4) if uncached_live else None,
        "cache_hit_ratio": job["cache"]["hit_ratio"],
        "input_tokens": usage["input_tokens"],
        "cache_read_tokens": usage["cache_read_tokens"],
        "cache_write_tokens": usage["cache_write_tokens"],
        "unpriced_models": cost["unpriced_models"],
    }


def emulator_billed(server: Any, model: str) -> float | None:
    if server is None:
        return None
    from agentbatch.bench_emulated import anthropic_billed_usd

    return anthropic_billed_usd(server, model)
