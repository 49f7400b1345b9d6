"""How a job looks on the terminal: the live progress bar (optionally running a worker
here) and the summary `batches show`, `wait` and `submit --wait` print."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentbatch.app import AgentBatch
from agentbatch.cli.common import console, err_console, print_json
from agentbatch.cli.job_report import print_routes_and_budget, print_selection
from agentbatch.domain.statuses import JOB_TERMINAL
from agentbatch.pricing import cache_phrase
from agentbatch.services.context_budget import job_budget_line

# exit codes of `submit --wait` and `wait` (2 stays "bad input", 1 "could not run")
EXIT_FAILED = 3
EXIT_CANCELLED = 4


def exit_for(job: dict[str, Any]) -> None:
    """Exit non-zero when the job ended failed (3) or cancelled (4)."""
    code = {"failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}.get(job["status"])
    if code is not None:
        raise SystemExit(code)


def outcome_detail(job: dict[str, Any]) -> str:
    """``completed=4 (max_steps 3) failed=1``: run statuses, with the runs that ran out of
    steps counted apart."""
    runs = job["runs"]
    out_of_steps = (job.get("outcomes") or {}).get("max_steps", 0)
    parts = []
    for status, n in runs.items():
        if not n:
            continue
        extra = f" (max_steps {out_of_steps})" if status == "completed" and out_of_steps else ""
        parts.append(f"{status}={n}{extra}")
    return " ".join(parts)


async def wait_for_job(
    app: AgentBatch, job_id: str, *, run_worker: bool, quiet: bool = False
) -> dict[str, Any]:
    """Follow a job with a live progress bar; optionally run a worker in this process."""
    worker = app.worker() if run_worker else None
    task = asyncio.create_task(worker.run()) if worker else None
    job = await app.jobs.get_job(app.org_id, job_id)
    if not quiet:
        here = "a worker runs here" if worker else "no worker here (--no-worker)"
        err_console.print(f"watching job {job_id} ({here}); Ctrl-C stops watching, the job goes on")
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
            bar = progress.add_task(job_id, total=job["request_count"], detail="")
            while True:
                job = await app.jobs.get_job(app.org_id, job_id)
                runs = job["runs"]
                done = runs["completed"] + runs["failed"] + runs["cancelled"]
                progress.update(bar, completed=done, detail=outcome_detail(job))
                if job["status"] in JOB_TERMINAL:
                    break
                if task is not None and task.done():
                    task.result()  # surface a crashed worker
                await asyncio.sleep(0.2)
    except (KeyboardInterrupt, asyncio.CancelledError):
        err_console.print(
            f"stopped watching; job {job_id} goes on (it is not cancelled). Resume with "
            f"`agentbatch batches wait {job_id}`, or cancel it with "
            f"`agentbatch batches cancel {job_id}`"
        )
        raise
    finally:
        if worker is not None and task is not None:
            worker.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return job


def print_job(job: dict[str, Any]) -> None:
    console.print(
        f"job [bold]{job['id']}[/bold]: [bold]{job['status']}[/bold]  "
        f"({job['request_count']} requests, max_steps {job['max_steps']})"
    )
    console.print("runs: " + ", ".join(f"{k} {v}" for k, v in job["runs"].items() if v))
    print_selection(job)
    outcomes = job.get("outcomes") or {}
    if outcomes:
        console.print("stop reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    if outcomes.get("max_steps"):
        console.print(
            f"[yellow]{outcomes['max_steps']} run(s) ran out of steps (max_steps "
            f"{job['max_steps']}) before a final reply[/yellow]: "
            f"agentbatch batches runs {job['id']} --stop-reason max_steps"
        )
    usage = job.get("usage") or {}
    if usage:
        console.print(
            f"model calls {usage['model_calls']}, tokens in {usage['input_tokens']} "
            f"out {usage['output_tokens']} cache read {usage['cache_read_tokens']} "
            f"cache write {usage['cache_write_tokens']}"
        )
    line = job_budget_line(job.get("context") or {})
    if line:
        console.print(line, highlight=False)
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
    print_routes_and_budget(job)
    if job.get("provider_batches"):
        console.print(
            "provider batches: " + ", ".join(f"{k} {v}" for k, v in job["provider_batches"].items())
        )
    if job.get("error"):
        console.print(f"[red]error:[/red] {job['error']}", highlight=False)
    if job.get("callback"):
        cb = job["callback"]
        console.print(
            f"callback: {cb['status']} after {cb['attempts']} attempt(s)"
            + (f" ({cb['error']})" if cb.get("error") else "")
        )


FAILED_SHOWN = 20


async def failed_runs(app: AgentBatch, job: dict[str, Any]) -> list[dict[str, Any]]:
    """The first failed runs of a job (none asked for when no run failed)."""
    if not job["runs"].get("failed"):
        return []
    return await app.jobs.job_runs(app.org_id, job["id"], status="failed", limit=FAILED_SHOWN)


def print_failed_runs(job: dict[str, Any], failed: list[dict[str, Any]]) -> None:
    """Each failed run's agent and error, and how to list the rest."""
    for run in failed:
        console.print(
            f"  [red]failed[/red] {run['agent_id']}: {run['last_error']}", highlight=False
        )
    rest = int(job["runs"].get("failed", 0)) - len(failed)
    if rest > 0:
        console.print(
            f"  ... {rest} more failed run(s): agentbatch batches runs {job['id']} --status failed"
        )


async def report_job(app: AgentBatch, job: dict[str, Any], *, as_json: bool) -> None:
    """What `show`, `wait` and `submit --wait` print: the job, why it failed, its failed runs
    (``failed_runs`` in JSON)."""
    failed = await failed_runs(app, job)
    if as_json:
        print_json({**job, "failed_runs": failed})
        return
    print_job(job)
    print_failed_runs(job, failed)
