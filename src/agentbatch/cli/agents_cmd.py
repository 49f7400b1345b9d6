"""`agentbatch agents ...` (blocks: `cli.blocks_cmd`; changes: `cli.agent_edit_cmd`)."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape

from agentbatch.app import AgentBatch
from agentbatch.cli.common import (
    console,
    database_option,
    json_option,
    limit_options,
    list_table,
    load_json_file,
    more_hint,
    print_json,
    with_app,
)
from agentbatch.errors import InvalidInput
from agentbatch.services.context_budget import budget_line
from agentbatch.services.lookup import names_in_use, resolve


def _parse_block(spec: str) -> dict[str, Any]:
    label, sep, value = spec.partition("=")
    if not sep:
        raise click.BadParameter(f"--block must look like label=value (got {spec!r})")
    return {"label": label, "value": value}


@click.group("agents")
def agents_group() -> None:
    """Create, list, show, change and delete agents; read their transcripts."""


@agents_group.command("create")
@click.option("--name", help="Agent name.")
@click.option(
    "--model", default=None, help="Model handle provider/model (default scripted/default)."
)
@click.option("--system", default=None, help="System prompt.")
@click.option("--tool", "tools", multiple=True, help="Tool name (repeat). Default: send_message.")
@click.option("--block", "blocks", multiple=True, help="New private block label=value (repeat).")
@click.option("--block-id", "block_ids", multiple=True, help="Attach an existing (shared) block.")
@click.option(
    "--rules-file", type=click.Path(exists=True, dir_okay=False), help="JSON list of tool rules."
)
@click.option(
    "--autoclear", is_flag=True, help="message_buffer_autoclear: keep no history in context."
)
@click.option("--tag", "tags", multiple=True, help="Tag the agent (repeat); jobs select by tag.")
@click.option(
    "--file", "file_", type=click.Path(exists=True, dir_okay=False), help="Full agent spec as JSON."
)
@click.option(
    "--allow-duplicate", is_flag=True, help="Create it even if an agent has this name already."
)
@database_option
@json_option
@with_app
async def create_agent(
    app: AgentBatch,
    name: str | None,
    model: str | None,
    system: str | None,
    tools: tuple[str, ...],
    blocks: tuple[str, ...],
    block_ids: tuple[str, ...],
    rules_file: str | None,
    autoclear: bool,
    tags: tuple[str, ...],
    file_: str | None,
    allow_duplicate: bool,
    as_json: bool,
) -> None:
    """Create an agent (from flags, or --file with the full spec). Names are how the CLI
    finds agents, so a name already in use is refused unless --allow-duplicate."""
    spec: dict[str, Any] = load_json_file(file_) if file_ else {}
    if not isinstance(spec, dict):
        raise InvalidInput("--file must hold one JSON object")
    if name:
        spec["name"] = name
    if model:
        spec["model"] = model
    if system:
        spec["system"] = system
    if tools:
        spec["tools"] = list(tools)
    if blocks:
        spec["blocks"] = [_parse_block(b) for b in blocks]
    if block_ids:
        spec["block_ids"] = list(block_ids)
    if rules_file:
        spec["tool_rules"] = load_json_file(rules_file)
    if autoclear:
        spec["message_buffer_autoclear"] = True
    if tags:
        spec["tags"] = list(tags)
    if "name" not in spec:
        raise InvalidInput("an agent needs a --name")
    taken = (await names_in_use(app.db, app.org_id, [str(spec["name"])])).get(str(spec["name"]))
    if taken and not allow_duplicate:
        raise InvalidInput(
            f"an agent named {spec['name']!r} exists already ({taken[0]}); choose another "
            "--name, or pass --allow-duplicate (then refer to each by its id)"
        )
    agent = await app.agents.create_agent(app.org_id, spec)
    if as_json:
        print_json(agent)
    else:
        console.print(
            f"created agent [bold]{agent['id']}[/bold] ({agent['name']}, {agent['model']})"
        )


@agents_group.command("list")
@click.option("--after", default=None, help="Cursor: list agents after this id.")
@click.option("--name", default=None, help="Only agents with this name.")
@limit_options(100)
@click.option("--tag", "tags", multiple=True, help="Only agents with this tag (repeat: all).")
@database_option
@json_option
@with_app
async def list_agents(
    app: AgentBatch,
    after: str | None,
    name: str | None,
    limit: int,
    all_: bool,
    tags: tuple[str, ...],
    as_json: bool,
) -> None:
    """List agents (whole ids; `show` also takes a unique id prefix or a name; with --tag,
    those carrying every tag given)."""
    rows, more = await app.agents.page_agents(
        app.org_id, after=after, limit=limit, all_=all_, name=name, tags=list(tags)
    )
    if as_json:
        print_json(rows)
    else:
        cells = [
            (
                a["id"],
                escape(a["name"]),
                a["model"],
                ", ".join(a["tools"]),
                ", ".join(b["label"] for b in a["blocks"]),
                escape(", ".join(a.get("tags") or [])),
            )
            for a in rows
        ]
        console.print(list_table(("id", "name", "model", "tools", "blocks", "tags"), cells))
    more_hint(more, limit)


@agents_group.command("show")
@click.argument("agent_id")
@database_option
@json_option
@with_app
async def show_agent(app: AgentBatch, agent_id: str, as_json: bool) -> None:
    """Show one agent with its memory blocks and its context window's token budget
    (AGENT_ID: id, unique id prefix or name)."""
    agent_id = await resolve(app.db, "agent", app.org_id, agent_id)
    agent = await app.agents.get_agent(app.org_id, agent_id, context=True)
    if as_json:
        print_json(agent)
        return
    console.print(
        f"[bold]{escape(agent['name'])}[/bold] {agent['id']}  model={agent['model']}",
        highlight=False,
    )
    console.print(budget_line(agent["context"]), highlight=False)
    console.print(f"tools: {', '.join(agent['tools'])}")
    if agent.get("tags"):
        console.print(f"tags: {escape(', '.join(agent['tags']))}")
    if agent["model_settings"]:
        console.print(f"model settings: {escape(str(agent['model_settings']))}")
    if agent["tool_rules"]:
        console.print(f"rules: {agent['tool_rules']}")
    for b in agent["blocks"]:
        console.print(
            f"[cyan]<{b['label']}>[/cyan] ({len(b['value'])}/{b['limit']}, v{b['version']}) {b['value']}"
        )


@agents_group.command("delete")
@click.argument("agent_id")
@database_option
@with_app
async def delete_agent(app: AgentBatch, agent_id: str) -> None:
    """Delete an agent and its history."""
    agent_id = await resolve(app.db, "agent", app.org_id, agent_id)
    await app.agents.delete_agent(app.org_id, agent_id)
    console.print(f"deleted {agent_id}")
