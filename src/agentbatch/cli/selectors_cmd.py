"""`agentbatch selectors ...`: saved sets of agents (by tag, id or model) that jobs and
schedules address by name; and the selection flags those commands share."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from agentbatch.app import AgentBatch
from agentbatch.cli.common import console, database_option, json_option, print_json, with_app
from agentbatch.errors import InvalidInput
from agentbatch.services.lookup import resolve


def selector_options(fn: Any) -> Any:
    """--tag / --any-tag / --agent / --model: which agents (every condition given holds)."""
    for option in reversed(
        (
            click.option(
                "--tag", "tags", multiple=True, help="Agents carrying this tag (repeat: all)."
            ),
            click.option(
                "--any-tag", "any_tags", multiple=True, help="Agents carrying one of these."
            ),
            click.option(
                "--agent",
                "agent_ids",
                multiple=True,
                help="This agent: id, id prefix or name (repeat).",
            ),
            click.option("--model", "model", default=None, help="Agents of this model handle."),
        )
    ):
        fn = option(fn)
    return fn


async def agent_ids_of(app: AgentBatch, refs: tuple[str, ...]) -> tuple[str, ...]:
    """The ids that ``--agent`` values name (an id, an id prefix or a name; an unknown or
    ambiguous one is a clear error, never a selector that matches nothing)."""
    return tuple([await resolve(app.db, "agent", app.org_id, ref) for ref in refs])


def selector_from(
    tags: tuple[str, ...], any_tags: tuple[str, ...], agent_ids: tuple[str, ...], model: str | None
) -> dict[str, Any] | None:
    spec: dict[str, Any] = {}
    if tags:
        spec["tags"] = list(tags)
    if any_tags:
        spec["any_tags"] = list(any_tags)
    if agent_ids:
        spec["ids"] = list(agent_ids)
    if model:
        spec["model"] = model
    return spec or None


@click.group("selectors")
def selectors_group() -> None:
    """Saved agent selectors (a name for agents chosen by tag, id or model)."""


@selectors_group.command("create")
@click.argument("name")
@selector_options
@database_option
@json_option
@with_app
async def create_selector(
    app: AgentBatch,
    name: str,
    tags: tuple[str, ...],
    any_tags: tuple[str, ...],
    agent_ids: tuple[str, ...],
    model: str | None,
    as_json: bool,
) -> None:
    """Save a selector NAME (jobs and schedules use it with --selector NAME)."""
    agents = selector_from(tags, any_tags, await agent_ids_of(app, agent_ids), model)
    if agents is None:
        raise InvalidInput("give --tag, --any-tag, --agent or --model")
    out = await app.selectors.create_selector(app.org_id, {"name": name, "agents": agents})
    if as_json:
        print_json(out)
    else:
        console.print(f"selector {out['name']}: {out['matching_agents']} agent(s) match now")


@selectors_group.command("list")
@database_option
@json_option
@with_app
async def list_selectors(app: AgentBatch, as_json: bool) -> None:
    rows = await app.selectors.list_selectors(app.org_id)
    if as_json:
        print_json(rows)
        return
    table = Table("name", "agents", "created")
    for r in rows:
        table.add_row(r["name"], str(r["agents"]), r["created_at"] or "")
    console.print(table)


@selectors_group.command("show")
@click.argument("name")
@database_option
@json_option
@with_app
async def show_selector(app: AgentBatch, name: str, as_json: bool) -> None:
    out = await app.selectors.get_selector(app.org_id, name)
    if as_json:
        print_json(out)
    else:
        console.print(f"selector {out['name']}: {out['agents']}; {out['matching_agents']} match")


@selectors_group.command("delete")
@click.argument("name")
@database_option
@with_app
async def delete_selector(app: AgentBatch, name: str) -> None:
    await app.selectors.delete_selector(app.org_id, name)
    console.print(f"deleted selector {name}")
