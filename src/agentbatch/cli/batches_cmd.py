"""`agentbatch batches ...`: submit, show, list, wait (live progress), messages, cancel."""

from __future__ import annotations

from typing import Any

import click

from agentbatch.app import AgentBatch
from agentbatch.cli.common import (
    console,
    database_option,
    json_option,
    limit_options,
    list_table,
    more_hint,
    print_json,
    with_app,
)
from agentbatch.cli.job_view import exit_for, print_job, report_job, wait_for_job
from agentbatch.domain.statuses import JobStatus
from agentbatch.services.lookup import resolve, resolve_agent_in_job


@click.group("batches")
def batches_group() -> None:
    """Submit batch jobs and follow them."""


@batches_group.command("show")
@click.argument("job_id")
@click.option("--errors/--no-errors", default=True, help="List failed runs with their errors.")
@database_option
@json_option
@with_app
async def show(app: AgentBatch, job_id: str, errors: bool, as_json: bool) -> None:
    """Show a job: status, runs by status and stop reason, tokens, cost, failed runs' errors."""
    job_id = await resolve(app.db, "job", app.org_id, job_id)
    job = await app.jobs.get_job(app.org_id, job_id)
    if errors:
        await report_job(app, job, as_json=as_json)
    elif as_json:
        print_json({**job, "failed_runs": []})
    else:
        print_job(job)


@batches_group.command("list")
@click.option(
    "--status",
    default=None,
    type=click.Choice([s.value for s in JobStatus]),
    help="Only jobs in this status.",
)
@click.option("--before", default=None, help="Cursor: jobs created before this job id.")
@limit_options(50)
@database_option
@json_option
@with_app
async def list_jobs(
    app: AgentBatch, status: str | None, before: str | None, limit: int, all_: bool, as_json: bool
) -> None:
    """List jobs, newest first."""
    rows: list[dict[str, Any]] = []
    cursor = before
    while True:
        want = 1000 if all_ else limit + 1 - len(rows)
        page = await app.jobs.list_jobs(app.org_id, status=status, limit=want, before=cursor)
        rows.extend(page)
        if not all_ or len(page) < want:
            break
        cursor = page[-1]["id"]
    more = 0
    if len(rows) > limit and not all_:
        rows = rows[:limit]
        more = await app.results.jobs_after(app.org_id, rows[-1]["id"], status)
    if as_json:
        print_json(rows)
    else:
        headers = ("id", "status", "requests", "completed", "max_steps", "failed", "created")
        cells = [
            (
                j["id"],
                j["status"],
                str(j["request_count"]),
                str(j["runs"]["completed"]),
                str((j.get("outcomes") or {}).get("max_steps", 0)),
                str(j["runs"]["failed"]),
                j["created_at"] or "",
            )
            for j in rows
        ]
        console.print(list_table(headers, cells))
    more_hint(more, limit)


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
    job_id = await resolve(app.db, "job", app.org_id, job_id)
    job = await wait_for_job(app, job_id, run_worker=worker, quiet=as_json)
    await report_job(app, job, as_json=as_json)
    exit_for(job)


@batches_group.command("messages")
@click.argument("job_id")
@click.option(
    "--agent",
    "agent_id",
    default=None,
    help="Only this agent's messages (id, prefix or name; the job's own agents first).",
)
@click.option("--after", default=None, type=int, help="Cursor: messages after this id.")
@limit_options(200)
@database_option
@json_option
@with_app
async def messages(
    app: AgentBatch,
    job_id: str,
    agent_id: str | None,
    after: int | None,
    limit: int,
    all_: bool,
    as_json: bool,
) -> None:
    """The messages a job produced, in order."""
    from agentbatch.cli.results_cmd import print_messages

    job_id = await resolve(app.db, "job", app.org_id, job_id)
    if agent_id:
        agent_id = await resolve_agent_in_job(app.db, app.org_id, job_id, agent_id)
    rows: list[dict[str, Any]] = []
    while True:
        want = 1000 if all_ else limit + 1 - len(rows)
        page = await app.jobs.job_messages(
            app.org_id, job_id, agent_id=agent_id, after=after, limit=want
        )
        rows.extend(page)
        if not all_ or len(page) < want:
            break
        after = page[-1]["id"]
    more = 0
    if len(rows) > limit and not all_:
        rows = rows[:limit]
        more = await app.results.job_messages_after(app.org_id, job_id, rows[-1]["id"], agent_id)
    if as_json:
        print_json(rows)
    else:
        print_messages(rows, jobs=False)
    more_hint(more, limit)


@batches_group.command("cancel")
@click.argument("job_id")
@database_option
@json_option
@with_app
async def cancel(app: AgentBatch, job_id: str, as_json: bool) -> None:
    """Cancel a job: open provider batches are cancelled, unfinished runs marked cancelled."""
    job_id = await resolve(app.db, "job", app.org_id, job_id)
    job = await app.jobs.cancel_job(app.org_id, job_id)
    if as_json:
        print_json(job)
    else:
        print_job(job)


def _register_submit() -> None:
    from agentbatch.cli.submit_cmd import submit

    batches_group.add_command(submit)


_register_submit()
