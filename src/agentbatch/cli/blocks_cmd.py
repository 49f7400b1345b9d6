"""`agentbatch blocks ...`: memory blocks, shareable between agents."""

from __future__ import annotations

import click
from rich.markup import escape

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
from agentbatch.services.lookup import resolve


@click.group("blocks")
def blocks_group() -> None:
    """Create, list, show, update and delete memory blocks (shareable between agents)."""


@blocks_group.command("create")
@click.option("--label", required=True)
@click.option("--value", default="")
@click.option("--limit", default=5000, show_default=True)
@click.option("--description", default="")
@click.option("--read-only", is_flag=True)
@database_option
@json_option
@with_app
async def create_block(
    app: AgentBatch,
    label: str,
    value: str,
    limit: int,
    description: str,
    read_only: bool,
    as_json: bool,
) -> None:
    """Create a block (attach it to agents with `agents create --block-id`)."""
    block = await app.agents.create_block(
        app.org_id,
        {
            "label": label,
            "value": value,
            "limit": limit,
            "description": description,
            "read_only": read_only,
        },
    )
    if as_json:
        print_json(block)
    else:
        console.print(f"created block [bold]{block['id']}[/bold] ({label})")


@blocks_group.command("list")
@click.option("--label", default=None)
@click.option("--after", default=None)
@limit_options(100)
@database_option
@json_option
@with_app
async def list_blocks(
    app: AgentBatch, label: str | None, after: str | None, limit: int, all_: bool, as_json: bool
) -> None:
    """List blocks."""
    rows, more = await app.agents.page_blocks(
        app.org_id, label=label, after=after, limit=limit, all_=all_
    )
    if as_json:
        print_json(rows)
    else:
        cells = [
            (
                b["id"],
                escape(b["label"]),
                f"{len(b['value'])}/{b['limit']}",
                str(b["version"]),
                escape(b["value"][:60]),
            )
            for b in rows
        ]
        console.print(list_table(("id", "label", "size", "version", "value"), cells))
    more_hint(more, limit)


@blocks_group.command("show")
@click.argument("block_id")
@database_option
@json_option
@with_app
async def show_block(app: AgentBatch, block_id: str, as_json: bool) -> None:
    """Show one block (BLOCK_ID: id or unique id prefix)."""
    block_id = await resolve(app.db, "block", app.org_id, block_id)
    print_json(await app.agents.get_block(app.org_id, block_id))


@blocks_group.command("update")
@click.argument("block_id")
@click.option("--value", default=None)
@click.option("--limit", default=None, type=int)
@click.option("--description", default=None)
@database_option
@json_option
@with_app
async def update_block(
    app: AgentBatch,
    block_id: str,
    value: str | None,
    limit: int | None,
    description: str | None,
    as_json: bool,
) -> None:
    """Change a block's value, limit or description."""
    block_id = await resolve(app.db, "block", app.org_id, block_id)
    block = await app.agents.update_block(
        app.org_id, block_id, {"value": value, "limit": limit, "description": description}
    )
    if as_json:
        print_json(block)
    else:
        console.print(f"updated {block_id} (version {block['version']})")


@blocks_group.command("delete")
@click.argument("block_id")
@database_option
@with_app
async def delete_block(app: AgentBatch, block_id: str) -> None:
    """Delete a block that no agent uses (detach it with `agents detach-block`)."""
    block_id = await resolve(app.db, "block", app.org_id, block_id)
    await app.agents.delete_block(app.org_id, block_id)
    console.print(f"deleted {block_id}")
