"""Human-readable bench output."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


def print_bench(r: dict[str, Any]) -> None:
    console.print(
        f"[bold]agentbatch bench[/bold]: {r['agents']} agents x {r['steps']} steps on "
        f"{r['provider']} / {r['database']} -> job {r['status']}"
    )
    table = Table("phase", "seconds", "agent-steps/s", "SQL statements")
    for name, p in r["phases"].items():
        table.add_row(
            name, f"{p['seconds']:.3f}", f"{p['agent_steps_per_s'] or 0:,.0f}", str(p["statements"])
        )
    table.add_row(
        "[bold]total[/bold]",
        f"{r['run_s']:.3f}",
        f"[bold]{r['agent_steps_per_s']:,.0f}[/bold]",
        str(r["sql_statements"]),
    )
    console.print(table)
    console.print(
        f"{r['agent_steps']} agent-steps, {r['ms_per_agent_step']} ms per agent-step, "
        f"peak RSS {r['peak_rss_mb']} MB (setup {r['setup_s']} s, job creation {r['create_job_s']} s)"
    )
    cost = r.get("cost") or {}
    if cost.get("usd_per_agent_step") and cost.get("fraction_of_live"):
        hits = cost.get("cache_hit_ratio")
        console.print(
            f"billed ${cost['usd']:.6f}: ${cost['usd_per_agent_step']:.8f} per agent-step, "
            f"[bold]{cost['fraction_of_live']:.1%}[/bold] of the live price without caching "
            f"(${cost['live_usd_per_agent_step']:.8f}); prompt cache hit ratio "
            f"{hits:.1%}"
            if hits is not None
            else "no prompt cache reads"
        )


def print_sandbox_bench(r: dict[str, Any]) -> None:
    """The result of ``bench_sandbox``: trivial tool calls per second through the warm
    pool and with a fresh interpreter per call."""
    console.print(
        f"[bold]agentbatch bench --custom-tool[/bold]: trivial calls, {r['concurrency']} at a "
        f"time, {r['cpu_cores']} CPU core(s), sandbox: {r['sandbox']}"
    )
    table = Table("mode", "calls", "correct", "calls/s")
    table.add_row(
        "warm pool",
        f"{r['pool_calls']:,}",
        f"{r['pool_correct']:,}",
        f"[bold]{r['pool_calls_per_s']:,.1f}[/bold]",
    )
    table.add_row(
        "fresh process per call",
        f"{r['fresh_process_calls']:,}",
        f"{r['fresh_process_correct']:,}",
        f"{r['fresh_process_calls_per_s']:,.1f}",
    )
    console.print(table)
    console.print(
        f"pool: {r['speedup']}x the fresh-process rate; {r['pool_cpu_ms_per_call']} ms CPU per "
        f"call (runtime, workers and tools), so the cores alone would sustain "
        f"{r['pool_cpu_bound_calls_per_s']:,.0f} calls/s"
    )
