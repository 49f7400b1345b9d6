"""What the CLI adds to a job's summary for selections, deadlines and budgets (tokens and
cost split into batch and live, the prompt-cache hit ratio, the budget), and how it
prints an estimate."""

from __future__ import annotations

from typing import Any

from agentbatch.cli.common import console


def print_selection(job: dict[str, Any]) -> None:
    """Agents a selection left out, the deadline, the schedule that made the job."""
    extra = []
    if job.get("skipped_agents"):
        extra.append(f"{job['skipped_agents']} selected agent(s) left out (busy)")
    if job.get("deadline"):
        extra.append(f"deadline {job['deadline']}")
    if job.get("schedule_id"):
        extra.append(f"from schedule {job['schedule_id']}")
    if extra:
        console.print("; ".join(extra))


def print_routes_and_budget(job: dict[str, Any]) -> None:
    _print_routes(job)
    _print_budget(job)


def _print_routes(job: dict[str, Any]) -> None:
    """Tokens and cost through the batch API and through the live API, cache hits."""
    routes = job.get("routes")
    if not routes:
        return
    for name in ("batch", "live"):
        r = routes[name]
        if not r.get("requests") and not r.get("usd") and name == "live":
            continue
        console.print(
            f"  {name}: {r.get('requests', 0)} request(s), tokens in {r['input_tokens']} "
            f"out {r['output_tokens']} cache read {r['cache_read_tokens']} "
            f"cache write {r['cache_write_tokens']}, ${r['usd']:.6f}"
        )
    cache = job.get("cache") or {}
    if cache.get("hit_ratio") is not None:
        console.print(f"prompt cache hit ratio {cache['hit_ratio']:.1%} of input tokens")


def _print_budget(job: dict[str, Any]) -> None:
    budget = job.get("budget")
    if not budget:
        return
    line = f"budget ${budget['max_cost_usd']:.4f}: spent ${budget['spent_usd']:.6f}" + (
        f", ${budget['committed_usd']:.6f} in flight" if budget["in_flight"] else ""
    )
    if budget["exhausted_runs"]:
        line += f"; [yellow]{budget['exhausted_runs']} run(s) stopped: budget_exhausted[/yellow]"
    console.print(line)


def print_estimate(est: dict[str, Any]) -> None:
    console.print(
        f"first step: {est['requests']} request(s), about {est['input_tokens']:,} input "
        f"tokens, ${est['input_usd']:.6f} input at the batch price "
        f"(${est['cached_input_usd']:.6f} with the prompt cache's expected reads and writes)"
    )
    console.print(
        f"with output: about ${est['expected_usd']:.6f} expected, at most "
        f"${est['max_usd']:.6f} (every request's max_tokens)"
    )
    for model, m in est["by_model"].items():
        price = f", ${m['input_usd']:.6f} input" if m.get("input_usd") is not None else ""
        console.print(f"  {model}: {m['requests']} request(s), {m['input_tokens']:,} tokens{price}")
    if est["unpriced_models"]:
        console.print(f"unpriced (no cost counted): {', '.join(est['unpriced_models'])}")
    if est["busy_agents"]:
        console.print(f"{est['busy_agents']} agent(s) are busy in another job")
    if est["unknown_agents"]:
        console.print(f"unknown agents: {', '.join(est['unknown_agents'][:10])}")
    console.print(f"[dim]{est['note']}[/dim]")
