"""`agentbatch bench`: throughput of the worker, a provider emulator, the sandbox, the
dashboard or archival search (see docs/benchmarks.md)."""

from __future__ import annotations

import json
from typing import Any

import click

from agentbatch.cli.bench_options import cost_options
from agentbatch.cli.common import run


@click.command("bench")
@click.option("--agents", "n_agents", default=1000, show_default=True)
@click.option("--steps", default=3, show_default=True)
@click.option(
    "--provider",
    default="scripted",
    show_default=True,
    type=click.Choice(
        [
            "scripted",
            "anthropic-emulator",
            "openai-emulator",
            "google-emulator",
            "mistral-emulator",
            "openrouter-emulator",
        ]
    ),
)
@cost_options
@click.option("--custom-tool", is_flag=True, help="Benchmark the custom-tool sandbox instead.")
@click.option("--calls", default=2000, show_default=True, help="Calls for --custom-tool.")
@click.option(
    "--sandbox",
    default=None,
    type=click.Choice(["auto", "bwrap", "process"]),
    help="Sandbox for --custom-tool (default: AGENTBATCH_SANDBOX, else auto).",
)
@click.option(
    "--trace",
    is_flag=True,
    help="Trace the job (spans encoded as OTLP protobuf and dropped) to measure tracing's cost.",
)
@click.option(
    "--dashboard",
    is_flag=True,
    help="Time the dashboard's pages over a job of --agents runs instead.",
)
@click.option(
    "--archival", is_flag=True, help="Benchmark archival memory search instead (labelled fixture)."
)
@click.option("--passages", "n_passages", default=10_000, show_default=True)
@click.option("--database-url", default=None, help="Default: a temporary SQLite file.")
@click.option("--json", "as_json", is_flag=True)
def bench(
    n_agents: int,
    trace: bool,
    dashboard: bool,
    steps: int,
    provider: str,
    custom_tool: bool,
    calls: int,
    sandbox: str | None,
    archival: bool,
    n_passages: int,
    database_url: str | None,
    as_json: bool,
    **cost: Any,
) -> None:
    """Measure throughput: N agents, one job of K steps (scripted provider, instant batches)."""
    from agentbatch.bench_report import print_bench, print_sandbox_bench

    if archival:
        from agentbatch.archival_bench import run_archival_bench

        if not 10 <= n_passages <= 1_000_000:
            raise click.BadParameter("--passages must be between 10 and 1,000,000")
        found = run(run_archival_bench(database_url, n_passages))
        click.echo(json.dumps(found, indent=2))
        return

    if custom_tool:
        from agentbatch.security_settings import SecuritySettings
        from agentbatch.tools.sandbox.bench import bench_sandbox

        result = run(bench_sandbox(calls, backend=sandbox or SecuritySettings.from_env().sandbox))
        click.echo(json.dumps(result, indent=2)) if as_json else print_sandbox_bench(result)
        return
    if dashboard:
        from agentbatch.bench_observe import bench_dashboard

        click.echo(json.dumps(bench_dashboard(n_agents, database_url=database_url), indent=2))
        return
    from agentbatch.bench import BenchConfig, run_bench

    if n_agents < 1 or steps < 1:
        raise click.BadParameter("--agents and --steps must be at least 1")
    config = BenchConfig(
        agents=n_agents,
        steps=steps,
        database_url=database_url,
        provider=provider,
        trace=trace,
        **cost,
    )
    result = run(run_bench(config))
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        print_bench(result)
