"""`agentbatch schedules ...`: cron fires that create jobs for the selected agents."""

from __future__ import annotations

from typing import Any

import click

from agentbatch.app import AgentBatch
from agentbatch.cli.common import (
    console,
    database_option,
    json_option,
    list_table,
    load_json_file,
    print_json,
    with_app,
)
from agentbatch.cli.selectors_cmd import agent_ids_of, selector_from, selector_options
from agentbatch.errors import InvalidInput


@click.group("schedules")
def schedules_group() -> None:
    """Cron schedules: each fire creates a job for the selected agents (workers fire them)."""


@schedules_group.command("create")
@click.option("--cron", required=True, help='5-field cron expression, e.g. "0 2 * * *".')
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone of the cron.")
@selector_options
@click.option("--selector", default=None, help="A saved selector's name instead.")
@click.option("--message", default=None, help="The message each agent gets ({{agent.name}}...).")
@click.option(
    "--messages-file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON messages (a string or a list of user messages) instead of --message.",
)
@click.option("--max-steps", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--deadline", default=None, help="Each job finishes within this (6h, 90m).")
@click.option("--max-cost", "max_cost", default=None, type=float, help="Budget per job, USD.")
@click.option(
    "--missed",
    type=click.Choice(["skip", "run-once"]),
    default="run-once",
    show_default=True,
    help="Fires missed while no worker ran: skip them, or run one job for them.",
)
@click.option("--grace", default=300.0, show_default=True, help="Seconds a fire may be late.")
@click.option("--name", default=None)
@click.option("--script", "script_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--callback-url", default=None)
@database_option
@json_option
@with_app
async def create_schedule(
    app: AgentBatch,
    cron: str,
    timezone: str,
    tags: tuple[str, ...],
    any_tags: tuple[str, ...],
    agent_ids: tuple[str, ...],
    model: str | None,
    selector: str | None,
    message: str | None,
    messages_file: str | None,
    max_steps: int,
    deadline: str | None,
    max_cost: float | None,
    missed: str,
    grace: float,
    name: str | None,
    script_file: str | None,
    callback_url: str | None,
    as_json: bool,
) -> None:
    """Create a schedule, e.g. nightly memory consolidation for agents tagged sleeptime:

    agentbatch schedules create --cron "0 2 * * *" --tag sleeptime --message "Consolidate."
    """
    if (message is None) == (messages_file is None):
        raise InvalidInput("give one of --message and --messages-file")
    spec: dict[str, Any] = {
        "cron": cron,
        "timezone": timezone,
        "messages": message if message is not None else load_json_file(str(messages_file)),
        "max_steps": max_steps,
        "missed": missed.replace("-", "_"),
        "grace_s": grace,
    }
    agents = selector_from(tags, any_tags, await agent_ids_of(app, agent_ids), model)
    if (agents is None) == (selector is None):
        raise InvalidInput(
            "give the agents (--tag, --any-tag, --agent, --model) or --selector NAME, one of the two"
        )
    if agents is not None:
        spec["agents"] = agents
    if selector is not None:
        spec["selector"] = selector
    for key, value in (
        ("deadline", deadline),
        ("max_cost_usd", max_cost),
        ("name", name),
        ("callback_url", callback_url),
    ):
        if value is not None:
            spec[key] = value
    if script_file:
        spec["options"] = {"script": load_json_file(script_file)}
    schedule = await app.schedules.create_schedule(app.org_id, spec)
    if as_json:
        print_json(schedule)
        return
    console.print(
        f"created schedule [bold]{schedule['id']}[/bold] ({schedule['cron']} "
        f"{schedule['timezone']}); next fire {schedule['next_fire_at']}"
    )
    console.print("a running `agentbatch worker` (or `serve --with-worker`) fires it")


@schedules_group.command("list")
@database_option
@json_option
@with_app
async def list_schedules(app: AgentBatch, as_json: bool) -> None:
    """List schedules with their next fire and totals."""
    rows = await app.schedules.list_schedules(app.org_id, limit=1000)
    if as_json:
        print_json(rows)
        return
    headers = ("id", "name", "cron", "status", "next fire", "fires", "busy skipped", "missed")
    cells = [
        (
            s["id"],
            s["name"],
            f"{s['cron']} {s['timezone']}",
            s["status"],
            s["next_fire_at"] or "",
            str(s["fires"]),
            str(s["skipped_busy_total"]),
            str(s["missed_total"]),
        )
        for s in rows
    ]
    console.print(list_table(headers, cells))


@schedules_group.command("show")
@click.argument("schedule_id")
@click.option("--next", "upcoming", default=5, show_default=True, help="Next fire times.")
@click.option("--last", default=10, show_default=True, help="Last fires.")
@database_option
@json_option
@with_app
async def show_schedule(
    app: AgentBatch, schedule_id: str, upcoming: int, last: int, as_json: bool
) -> None:
    """A schedule: next fire times, and its last fires with their jobs."""
    s = await app.schedules.get_schedule(
        app.org_id, schedule_id, upcoming=max(0, min(upcoming, 100)), last=max(0, min(last, 1000))
    )
    if as_json:
        print_json(s)
        return
    target = f"selector {s['selector']}" if s["selector"] else f"agents {s['agents']}"
    console.print(
        f"schedule [bold]{s['id']}[/bold] {s['name']!r}: {s['cron']} ({s['timezone']}), "
        f"{s['status']}, {target}"
    )
    console.print(
        f"missed fires: {s['missed']} (grace {s['grace_s']:.0f}s); fires {s['fires']}, agents "
        f"skipped busy {s['skipped_busy_total']}, fire times missed {s['missed_total']}"
    )
    if s["next_fire_times"]:
        console.print("next: " + ", ".join(s["next_fire_times"]))
    headers = ("fire time", "job", "status", "agents", "busy skipped", "missed", "error")
    cells = [
        (
            f["fire_at"] or "",
            f["job_id"] or "-",
            f["job_status"] or "",
            str(f["selected"] - f["skipped_busy"]),
            str(f["skipped_busy"]),
            str(f["missed"]),
            f["error"] or "",
        )
        for f in s["last_fires"]
    ]
    console.print(list_table(headers, cells, ids=("job",)))


def _state_command(name: str, doc: str) -> None:
    @schedules_group.command(name, help=doc)
    @click.argument("schedule_id")
    @database_option
    @json_option
    @with_app
    async def command(app: AgentBatch, schedule_id: str, as_json: bool) -> None:
        action = getattr(app.schedules, f"{name}_schedule")
        s = await action(app.org_id, schedule_id)
        if as_json:
            print_json(s)
        else:
            upcoming = s["next_fire_at"] or "none while paused (`schedules resume` sets it)"
            console.print(f"schedule {s['id']} is {s['status']}; next fire {upcoming}")


_state_command("pause", "Pause a schedule: no fire until it is resumed.")
_state_command("resume", "Resume a paused schedule from its next cron time.")


@schedules_group.command("delete")
@click.argument("schedule_id")
@database_option
@with_app
async def delete_schedule(app: AgentBatch, schedule_id: str) -> None:
    """Delete a schedule (the jobs it created stay)."""
    await app.schedules.delete_schedule(app.org_id, schedule_id)
    console.print(f"deleted schedule {schedule_id}")
