"""`agentbatch batches runs|export` and `agentbatch agents messages`: what agents did."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

import click
from rich.markup import escape

from agentbatch.app import AgentBatch
from agentbatch.cli.common import (
    console,
    database_option,
    err_console,
    json_option,
    limit_options,
    list_table,
    more_hint,
    print_json,
    with_app,
)
from agentbatch.interop import export_formats as fmt
from agentbatch.services.lookup import resolve
from agentbatch.services.results import RUN_STATUSES, STOP_REASONS, ResultService

EXPORT_PAGE = 1000


def results(app: AgentBatch) -> ResultService:
    return app.results


def _short(text: str | None, width: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def register(batches_group: click.Group, agents_group: click.Group) -> None:
    batches_group.add_command(runs)
    batches_group.add_command(export)
    agents_group.add_command(agent_messages)


@click.command("runs")
@click.argument("job_id")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(RUN_STATUSES),
    help="Only runs in this status (repeat).",
)
@click.option(
    "--stop-reason",
    "stop_reasons",
    multiple=True,
    type=click.Choice(STOP_REASONS),
    help="Only runs that ended for this reason (repeat); max_steps: out of steps.",
)
@click.option("--after", default=None, help="Cursor: runs after this run id.")
@limit_options(100)
@database_option
@json_option
@with_app
async def runs(
    app: AgentBatch,
    job_id: str,
    statuses: tuple[str, ...],
    stop_reasons: tuple[str, ...],
    after: str | None,
    limit: int,
    all_: bool,
    as_json: bool,
) -> None:
    """List a job's runs: agent, status, stop reason, steps, tokens, cost, reply or error."""
    job_id = await resolve(app.db, "job", app.org_id, job_id)
    service = results(app)
    filters: dict[str, Any] = {"statuses": statuses, "stop_reasons": stop_reasons}
    if all_:
        rows = [r async for r in service.iter_runs(app.org_id, job_id, **filters)]
        more = 0
    else:
        rows, more = await service.list_runs(
            app.org_id, job_id, after=after, limit=limit, **filters
        )
    if as_json:
        print_json(rows)
    else:
        headers = (
            "agent",
            "name",
            "status",
            "stop",
            "steps",
            "tokens in/out",
            "cost",
            "input",
            "reply / error",
        )
        cells = []
        for r in rows:
            answer = r["reply"] if r["reply"] is not None else r["error"]
            cells.append(
                (
                    r["agent_id"],
                    escape(r["agent_name"]),
                    r["status"],
                    r["stop_reason"] or "",
                    str(r["steps"]),
                    f"{r['input_tokens']}/{r['output_tokens']}",
                    f"${r['cost_usd']:.4f}",
                    escape(_short(r["input"], 40)),
                    escape(_short(answer)),
                )
            )
        console.print(list_table(headers, cells, ids=("agent",)))
    more_hint(more, limit)


@click.command("export")
@click.argument("job_id")
@click.option(
    "--format",
    "format_",
    type=click.Choice(fmt.FORMATS),
    default="jsonl",
    show_default=True,
    help="jsonl: one object per agent; csv: a header and one row per agent; openai: the "
    "OpenAI Batch API output file shape (custom_id as submitted).",
)
@click.option(
    "--output",
    "-o",
    "output",
    default="-",
    show_default=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="File to write (- for standard output).",
)
@click.option("--status", "statuses", multiple=True, type=click.Choice(RUN_STATUSES))
@click.option("--stop-reason", "stop_reasons", multiple=True, type=click.Choice(STOP_REASONS))
@database_option
@with_app
async def export(
    app: AgentBatch,
    job_id: str,
    format_: str,
    output: str,
    statuses: tuple[str, ...],
    stop_reasons: tuple[str, ...],
) -> None:
    """Write one line per agent: id and name, status, stop reason, reply, error, tokens, cost.

    Streams page by page (memory stays small for 100,000 runs)."""
    job_id = await resolve(app.db, "job", app.org_id, job_id)
    job = await app.jobs.get_job(app.org_id, job_id)
    custom_ids = fmt.custom_id_rule(job.get("metadata") or {})
    out: IO[str]
    out = sys.stdout if output == "-" else Path(output).open("w", encoding="utf-8", newline="")  # noqa: SIM115
    count = 0
    try:
        if format_ == "csv":
            out.write(fmt.csv_header())
        async for row in results(app).iter_runs(
            app.org_id, job_id, statuses=statuses, stop_reasons=stop_reasons, page=EXPORT_PAGE
        ):
            if format_ == "jsonl":
                out.write(fmt.jsonl_line(row))
            elif format_ == "csv":
                out.write(fmt.csv_line(row))
            else:
                out.write(fmt.openai_line(row, custom_ids(row)))
            count += 1
    finally:
        if out is not sys.stdout:
            out.close()
    if output != "-":
        err_console.print(f"wrote {count} run(s) of job {job_id} to {output} ({format_})")
    if job["status"] not in ("completed", "failed", "cancelled"):
        err_console.print(f"[yellow]note:[/yellow] job {job_id} is still {job['status']}")


@click.command("messages")
@click.argument("agent_id")
@click.option("--after", default=None, type=int, help="Cursor: messages after this id.")
@limit_options(200)
@database_option
@json_option
@with_app
async def agent_messages(
    app: AgentBatch, agent_id: str, after: int | None, limit: int, all_: bool, as_json: bool
) -> None:
    """An agent's transcript across every job (AGENT_ID: id, id prefix or name)."""
    agent_id = await resolve(app.db, "agent", app.org_id, agent_id)
    service = results(app)
    rows: list[dict[str, Any]] = []
    more = 0
    while True:
        page, more = await service.agent_messages(
            app.org_id, agent_id, after=after, limit=1000 if all_ else limit
        )
        rows.extend(page)
        if not all_ or not more or not page:
            break
        after = page[-1]["id"]
    if as_json:
        print_json(rows)
    else:
        print_messages(rows)
    more_hint(0 if all_ else more, limit)


def print_messages(rows: list[dict[str, Any]], *, jobs: bool = True) -> None:
    """Messages one per line; with ``jobs``, a heading where the job changes."""
    job = None
    for m in rows:
        if jobs and m.get("job_id") != job:
            job = m.get("job_id")
            console.print(f"[bold]-- job {job or '(none)'}[/bold]", highlight=False)
        calls = "".join(f" -> {c['name']}({c['arguments']})" for c in m.get("tool_calls") or ())
        step = "-" if m["step"] is None else f"s{m['step']}"  # imported history has no steps
        console.print(
            f"[dim]{m['id']} {m['agent_id']} {step}[/dim] [bold]{m['kind']}[/bold] "
            f"{escape((m['content'] or '')[:500])}{escape(calls)}",
            markup=True,
            highlight=False,
        )
