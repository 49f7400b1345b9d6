"""Entry point: `agentbatch` and its command groups (wiring only)."""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from agentbatch import __version__
from agentbatch.cli.agent_edit_cmd import register as register_agent_edits
from agentbatch.cli.agent_files_cmd import export_agents, import_agents
from agentbatch.cli.agents_cmd import agents_group
from agentbatch.cli.batches_cmd import batches_group
from agentbatch.cli.bench_cmd import bench
from agentbatch.cli.blocks_cmd import blocks_group
from agentbatch.cli.common import console, database_option, err_console, run, setup_logging
from agentbatch.cli.results_cmd import register as register_results
from agentbatch.cli.schedules_cmd import schedules_group
from agentbatch.cli.selectors_cmd import selectors_group
from agentbatch.cli.serve_cmd import keys_group, serve, ui
from agentbatch.cli.tools_cmd import tools_group
from agentbatch.config import tune_gc


@click.group()
@click.version_option(__version__, prog_name="agentbatch")
@click.option("-v", "--verbose", is_flag=True, help="Log progress at INFO level.")
def cli(verbose: bool) -> None:
    """Run many stateful, tool-using LLM agents through providers' batch APIs."""
    setup_logging(verbose)
    tune_gc()


agents_group.add_command(import_agents)
agents_group.add_command(export_agents)
register_results(batches_group, agents_group)
register_agent_edits(agents_group)
cli.add_command(agents_group)
cli.add_command(blocks_group)
cli.add_command(batches_group)
cli.add_command(tools_group)
cli.add_command(schedules_group)
cli.add_command(selectors_group)
cli.add_command(serve)
cli.add_command(ui)
cli.add_command(keys_group)
cli.add_command(bench)


@cli.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@database_option
def db_upgrade(database_url: str | None) -> None:
    """Apply migrations (the SQLite default is upgraded automatically)."""
    from agentbatch.config import default_database_url
    from agentbatch.store import migrate
    from agentbatch.store.db import Database

    async def body() -> str:
        db = Database(database_url or default_database_url())
        try:
            await migrate.upgrade(db)
            return str(await migrate.current_revision(db))
        finally:
            await db.dispose()

    revision = run(body())
    console.print(f"database at revision {revision}")


@cli.command("worker")
@database_option
@click.option("--once", is_flag=True, help="Run one round of every pass and exit.")
def worker(database_url: str | None, once: bool) -> None:
    """Run a worker: submit, poll, apply, finish, until interrupted (SIGINT/SIGTERM).

    A worker serves every organisation in the database: custom tools run only in the
    bubblewrap sandbox, unless AGENTBATCH_ALLOW_UNSAFE_TOOLS=1."""
    from agentbatch.app import AgentBatch

    async def body() -> None:
        async with await AgentBatch.open(database_url) as app:
            app.require_isolation()
            problem = app.tool_executor.isolation_problem()
            if problem and not app.security.allow_unsafe_tools:
                err_console.print(
                    f"[yellow]warning:[/yellow] custom tool calls will fail: {problem}; install "
                    "bubblewrap, or set AGENTBATCH_ALLOW_UNSAFE_TOOLS=1 (docs/security.md)"
                )
            w = app.worker()
            metrics_port = w.ctx.observe.settings.metrics_port
            if metrics_port:
                from prometheus_client import start_http_server

                from agentbatch.observability import metrics

                start_http_server(metrics_port, registry=metrics().registry)
                console.print(f"worker metrics on http://0.0.0.0:{metrics_port}/metrics")
            if once:
                await w.tick()
                w.ctx.observe.flush()
                return
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, w.stop)
            console.print(f"worker {w.ctx.owner} running; Ctrl-C stops it after the current pass")
            try:
                await w.run()
            finally:
                w.ctx.observe.shutdown()  # export the spans still queued

    run(body())


@cli.command("demo")
@click.option(
    "--agents",
    "n_agents",
    default=8,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many agents (at most 1,000; `agentbatch bench` measures larger jobs).",
)
@click.option(
    "--steps",
    default=3,
    show_default=True,
    type=click.IntRange(1, 50),
    help="Max model calls per agent.",
)
@click.option(
    "--model",
    default="local/smollm2",
    show_default=True,
    help="Any model handle; anthropic/... or openai/... need an API key.",
)
@click.option("--org", envvar="AGENTBATCH_ORG", default="default", show_default=True)
@click.option(
    "--long",
    "long_lived",
    is_flag=True,
    help="One long-lived agent on a small window, summarised through the batch "
    "(default model: scripted/diary).",
)
@click.option("--weeks", default=2, show_default=True, help="Weeks of daily jobs for --long.")
@database_option
def demo(
    n_agents: int,
    steps: int,
    model: str,
    org: str,
    long_lived: bool,
    weeks: int,
    database_url: str | None,
) -> None:
    """The main job: agents with memory, one batch job, live progress, a table of results."""
    from agentbatch.demo import DemoOptions, run_demo

    if long_lived:
        from agentbatch.demo_long import run_long_demo

        if not 1 <= weeks <= 50:
            raise click.BadParameter("--weeks must be between 1 and 50")
        handle = "scripted/diary" if model == "local/smollm2" else model
        run(run_long_demo(handle, weeks, database_url, console, org))
        return
    run(run_demo(DemoOptions(n_agents, steps, model, database_url, org), console))


@cli.command("emulate")
@click.argument(
    "provider", type=click.Choice(["anthropic", "openai", "google", "mistral", "openrouter"])
)
@click.option("--port", default=8765, show_default=True)
@click.option(
    "--script",
    "script_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="JSON list of script steps (see the README); default: a memory edit, then a reply.",
)
@click.option("--log", "log_requests", is_flag=True, help="Print one line per HTTP request.")
def emulate(provider: str, port: int, script_path: str | None, log_requests: bool) -> None:
    """Serve a protocol-faithful emulator of a provider's batch API on 127.0.0.1."""
    import importlib

    from agentbatch.testing.console import run_emulator

    module, name = {
        "anthropic": ("agentbatch.testing.anthropic", "AnthropicEmulator"),
        "openai": ("agentbatch.testing.openai", "OpenAIEmulator"),
        "google": ("agentbatch.testing.google", "GoogleEmulator"),
        "mistral": ("agentbatch.testing.mistral", "MistralEmulator"),
        "openrouter": ("agentbatch.testing.openrouter", "OpenRouterEmulator"),
    }[provider]
    emulator = getattr(importlib.import_module(module), name)
    run_emulator(
        provider,
        lambda script: emulator(script).app,
        port=port,
        script_path=script_path,
        log_requests=log_requests,
    )


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
