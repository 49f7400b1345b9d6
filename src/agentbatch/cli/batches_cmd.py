"""`agentbatch batches ...`: submit, show, list, wait (live progress), messages, cancel."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentbatch.app import AgentBatch
from agentbatch.cli.common import (
    console,
    database_option,
    json_option,
    load_json_file,
    print_json,
    with_app,
)
from agentbatch.domain.statuses import JOB_TERMINAL
from agentbatch.errors import InvalidInput


@click.group("batches")
def batches_group() -> None:
    """Submit batch jobs and follow them."""


def _requests_from(data: Any) -> tuple[list[Any], dict[str, Any]]:
    """A file holds a list of {agent_id, messages}, JSONL of them, or a full job object."""
    if isinstance(data, dict) and "requests" in data:
        extra = {k: v for k, v in data.items() if k != "requests"}
        return list(data["requests"]), extra
    if isinstance(data, dict):
        return [data], {}
    if isinstance(data, list):
        return data, {}
    raise InvalidInput("the file must hold {agent_id, messages} objects (JSON list or JSONL)")


@batches_group.command("submit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--max-steps", default=None, type=int, help="Model calls per agent (default 10).")
@click.option(
    "--script",
    "script_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON script for scripted/ models (job option).",
)
@click.option("--callback-url", default=None)
@click.option(
    "--wait", "wait_", is_flag=True, help="Run a worker here and wait for the job to end."
)
@database_option
@json_option
@with_app
async def submit(
    app: AgentBatch,
    file: str,
    max_steps: int | None,
    script_file: str | None,
    callback_url: str | None,
    wait_: bool,
    as_json: bool,
) -> None:
    """Submit a job from FILE: JSON or JSONL of {agent_id, messages}.

    With --wait: exits 0 when the job completed, 3 when it failed, 4 when cancelled."""
    requests, extra = _requests_from(load_json_file(file))
    job_spec: dict[str, Any] = {"requests": requests, **extra}
    if max_steps is not None:
        job_spec["max_steps"] = max_steps
    if script_file:
        job_spec.setdefault("options", {})["script"] = load_json_file(script_file)
    if callback_url:
        job_spec["callback_url"] = callback_url
    job = await app.jobs.create_job(app.org_id, job_spec)
    if not as_json:
        console.print(
            f"submitted job [bold]{job['id']}[/bold] with {job['request_count']} request(s)"
        )
    if wait_:
        job = await wait_for_job(app, job["id"], run_worker=True, quiet=as_json)
    if as_json:
        print_json(job)
    elif wait_:
        _print_job(job)
    if wait_:
        exit_for(job)


# exit codes of `submit --wait` and `wait` (2 stays "bad input", 1 "could not run")
EXIT_FAILED = 3
EXIT_CANCELLED = 4


def exit_for(job: dict[str, Any]) -> None:
    """Exit non-zero when the job ended failed (3) or cancelled (4)."""
    code = {"failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}.get(job["status"])
    if code is not None:
        raise SystemExit(code)


async def wait_for_job(
    app: AgentBatch, job_id: str, *, run_worker: bool, quiet: bool = False
) -> dict[str, Any]:
    """Follow a job with a live progress bar; optionally run a worker in this process."""
    worker = app.worker() if run_worker else None
    task = asyncio.create_task(worker.run()) if worker else None
    job = await app.jobs.get_job(app.org_id, job_id)
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
            transient=False,
        ) as progress:
            bar = progress.add_task(job_id[:16], total=job["request_count"], detail="")
            while True:
                job = await app.jobs.get_job(app.org_id, job_id)
                runs = job["runs"]
                done = runs["completed"] + runs["failed"] + runs["cancelled"]
                detail = " ".join(f"{k}={v}" for k, v in runs.items() if v)
                progress.update(bar, completed=done, detail=detail)
                if job["status"] in JOB_TERMINAL:
                    break
                if task is not None and task.done():
                    task.result()  # surface a crashed worker
                await asyncio.sleep(0.2)
    finally:
        if worker is not None and task is not None:
            worker.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return job


def cache_phrase(savings: float) -> str:
    """Cache writes cost more than plain input: a short job can pay more than it saves."""
    if savings < 0:
        return f"cache costs ${-savings:.4f}"
    return f"cache saves ${savings:.4f}"


def _print_job(job: dict[str, Any]) -> None:
    console.print(
        f"job [bold]{job['id']}[/bold]: [bold]{job['status']}[/bold]  "
        f"({job['request_count']} requests, max_steps {job['max_steps']})"
    )
    console.print("runs: " + ", ".join(f"{k} {v}" for k, v in job["runs"].items() if v))
    usage = job.get("usage") or {}
    if usage:
        console.print(
            f"model calls {usage['model_calls']}, tokens in {usage['input_tokens']} "
            f"out {usage['output_tokens']} cache read {usage['cache_read_tokens']} "
            f"cache write {usage['cache_write_tokens']}"
        )
    cost = job.get("cost") or {}
    if cost:
        console.print(
            f"cost ${cost['usd']:.4f} (live price ${cost['live_usd']:.4f}; batch saves "
            f"${cost['batch_savings_usd']:.4f}, {cache_phrase(cost['cache_savings_usd'])})"
            + (
                f"; unpriced: {', '.join(cost['unpriced_models'])}"
                if cost["unpriced_models"]
                else ""
            )
        )
    if job.get("provider_batches"):
        console.print(
            "provider batches: " + ", ".join(f"{k} {v}" for k, v in job["provider_batches"].items())
        )
    if job.get("callback"):
        cb = job["callback"]
        console.print(
            f"callback: {cb['status']} after {cb['attempts']} attempt(s)"
            + (f" ({cb['error']})" if cb.get("error") else "")
        )


@batches_group.command("show")
@click.argument("job_id")
@click.option("--errors/--no-errors", default=True, help="List failed runs with their errors.")
@database_option
@json_option
@with_app
async def show(app: AgentBatch, job_id: str, errors: bool, as_json: bool) -> None:
    """Show a job: status, runs by status, tokens, cost, failed runs' errors."""
    job = await app.jobs.get_job(app.org_id, job_id)
    failed = (
        await app.jobs.job_runs(app.org_id, job_id, status="failed", limit=20) if errors else []
    )
    if as_json:
        print_json({**job, "failed_runs": failed})
        return
    _print_job(job)
    for run in failed:
        console.print(f"  [red]failed[/red] {run['agent_id']}: {run['last_error']}")


@batches_group.command("list")
@click.option("--status", default=None)
@click.option("--limit", default=50, show_default=True)
@click.option("--before", default=None, help="Cursor: jobs created before this job id.")
@database_option
@json_option
@with_app
async def list_jobs(
    app: AgentBatch, status: str | None, limit: int, before: str | None, as_json: bool
) -> None:
    """List jobs, newest first."""
    rows = await app.jobs.list_jobs(app.org_id, status=status, limit=limit, before=before)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "status", "requests", "completed", "failed", "created")
    for j in rows:
        table.add_row(
            j["id"],
            j["status"],
            str(j["request_count"]),
            str(j["runs"]["completed"]),
            str(j["runs"]["failed"]),
            j["created_at"] or "",
        )
    console.print(table)


@batches_group.command("wait")
@click.argument("job_id")
@click.option(
    "--worker/--no-worker",
    default=True,
    show_default=True,
    help="Run a worker in this process while waiting.",
)
@database_option
@json_option
@with_app
async def wait(app: AgentBatch, job_id: str, worker: bool, as_json: bool) -> None:
    """Wait for a job with a live progress bar (runs finished / total, by status).

    Exits 0 when the job completed, 3 when it failed, 4 when it was cancelled."""
    job = await wait_for_job(app, job_id, run_worker=worker, quiet=as_json)
    if as_json:
        print_json(job)
    else:
        _print_job(job)
    exit_for(job)


@batches_group.command("messages")
@click.argument("job_id")
@click.option("--agent", "agent_id", default=None, help="Only this agent's messages.")
@click.option("--after", default=None, type=int, help="Cursor: messages after this id.")
@click.option("--limit", default=200, show_default=True)
@database_option
@json_option
@with_app
async def messages(
    app: AgentBatch, job_id: str, agent_id: str | None, after: int | None, limit: int, as_json: bool
) -> None:
    """The messages a job produced, in order."""
    rows = await app.jobs.job_messages(
        app.org_id, job_id, agent_id=agent_id, after=after, limit=limit
    )
    if as_json:
        print_json(rows)
        return
    for m in rows:
        calls = "".join(f" -> {c['name']}({c['arguments']})" for c in m.get("tool_calls") or ())
        console.print(
            f"[dim]{m['id']} {m['agent_id'][:14]} s{m['step']}[/dim] [bold]{m['kind']}[/bold] "
            f"{(m['content'] or '')[:200]}{calls}",
            markup=True,
            highlight=False,
        )


@batches_group.command("cancel")
@click.argument("job_id")
@database_option
@json_option
@with_app
async def cancel(app: AgentBatch, job_id: str, as_json: bool) -> None:
    """Cancel a job: open provider batches are cancelled, unfinished runs marked cancelled."""
    job = await app.jobs.cancel_job(app.org_id, job_id)
    if as_json:
        print_json(job)
    else:
        _print_job(job)
