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


def print_sandbox_bench(r: dict[str, Any]) -> None:
    table = Table("mode", "calls", "calls/s")
    for key, value in r.items():
        if isinstance(value, dict) and "calls_per_s" in value:
            table.add_row(key, str(value.get("calls", "")), f"{value['calls_per_s']:,.1f}")
    console.print(table if table.row_count else r)
