"""`agentbatch agents update|attach-block|detach-block|attach-tool|detach-tool`.

A change reaches the agent's next model request (a step already sent finishes as it was
sent); a new model applies from the agent's next job."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape

from agentbatch.app import AgentBatch
from agentbatch.cli.common import (
    console,
    database_option,
    json_option,
    load_json_file,
    print_json,
    with_app,
)
from agentbatch.errors import InvalidInput
from agentbatch.services.lookup import resolve


def register(agents_group: click.Group) -> None:
    for command in (update_agent, attach_block, detach_block, attach_tool, detach_tool):
        agents_group.add_command(command)


def _settings(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--set max_tokens=256``: values are JSON when they parse (numbers, true), else text."""
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"--set must look like name=value (got {pair!r})")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _done(agent: dict[str, Any], what: str, as_json: bool) -> None:
    if as_json:
        print_json(agent)
    else:
        console.print(f"{what}: agent [bold]{escape(agent['name'])}[/bold] {agent['id']}")


@click.command("update")
@click.argument("agent_id")
@click.option("--name", default=None)
@click.option("--system", default=None, help="New system prompt.")
@click.option("--model", default=None, help="New model handle (applies from the next job).")
@click.option(
    "--set",
    "settings",
    multiple=True,
    help="Model setting name=value (repeat), merged in; e.g. max_tokens=512, temperature=0.2.",
)
@click.option("--unset", "unset", multiple=True, help="Remove a model setting (repeat).")
@click.option("--tool", "tools", multiple=True, help="The tool list, replaced (repeat).")
@click.option(
    "--rules-file", type=click.Path(exists=True, dir_okay=False), help="JSON list of tool rules."
)
@click.option("--tag", "tags", multiple=True, help="The tag list, replaced (repeat).")
@click.option("--clear-tags", is_flag=True, help="Remove every tag.")
@click.option(
    "--file",
    "file_",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON object of fields to change (as PATCH /v1/agents/ID).",
)
@database_option
@json_option
@with_app
async def update_agent(
    app: AgentBatch,
    agent_id: str,
    name: str | None,
    system: str | None,
    model: str | None,
    settings: tuple[str, ...],
    unset: tuple[str, ...],
    tools: tuple[str, ...],
    rules_file: str | None,
    tags: tuple[str, ...],
    clear_tags: bool,
    file_: str | None,
    as_json: bool,
) -> None:
    """Change an agent: system prompt, model, settings, tools, tool rules, tags."""
    agent_id = await resolve(app.db, "agent", app.org_id, agent_id)
    changes: dict[str, Any] = load_json_file(file_) if file_ else {}
    if not isinstance(changes, dict):
        raise InvalidInput("--file must hold one JSON object")
    for key, value in (("name", name), ("system", system), ("model", model)):
        if value is not None:
            changes[key] = value
    if settings or unset:
        current = (await app.agents.get_agent(app.org_id, agent_id))["model_settings"]
        missing = [k for k in unset if k not in current]
        if missing:
            raise InvalidInput(f"--unset: the agent has no model setting {missing[0]!r}")
        kept = {k: v for k, v in current.items() if k not in unset}
        changes["model_settings"] = {**kept, **_settings(settings)}
    if tools:
        changes["tools"] = list(tools)
    if rules_file:
        changes["tool_rules"] = load_json_file(rules_file)
    if tags or clear_tags:
        changes["tags"] = list(tags)
    agent = await app.agent_edits.update_agent(app.org_id, agent_id, changes)
    _done(agent, f"updated {', '.join(sorted(changes))}", as_json)


@click.command("attach-block")
@click.argument("agent_id")
@click.argument("block_id")
@database_option
@json_option
@with_app
async def attach_block(app: AgentBatch, agent_id: str, block_id: str, as_json: bool) -> None:
    """Attach an existing (shared) block to an agent."""
    agent_id = await resolve(app.db, "agent", app.org_id, agent_id)
    block_id = await resolve(app.db, "block", app.org_id, block_id)
    _done(await app.agent_edits.attach_block(app.org_id, agent_id, block_id), "attached", as_json)


@click.command("detach-block")
@click.argument("agent_id")
@click.argument("block_id")
@database_option
@json_option
@with_app
async def detach_block(app: AgentBatch, agent_id: str, block_id: str, as_json: bool) -> None:
    """Detach a block from an agent (the block stays; `blocks delete` removes it).
    BLOCK_ID: the block's id, a unique id prefix, or its label on this agent."""
    agent_id = await resolve(app.db, "agent", app.org_id, agent_id)
    blocks = (await app.agents.get_agent(app.org_id, agent_id))["blocks"]
    labelled = [b["id"] for b in blocks if b["label"] == block_id]
    if len(labelled) == 1:
        block_id = labelled[0]
    elif not any(b["id"].startswith(block_id) for b in blocks):
        have = ", ".join(sorted(b["label"] for b in blocks)) or "none"
        raise InvalidInput(
            f"agent {agent_id} has no block with the id or label {block_id!r} (its blocks: {have})"
        )
    else:
        block_id = await resolve(app.db, "block", app.org_id, block_id)
    _done(await app.agent_edits.detach_block(app.org_id, agent_id, block_id), "detached", as_json)


@click.command("attach-tool")
@click.argument("agent_id")
@click.argument("tool_name")
@database_option
@json_option
@with_app
async def attach_tool(app: AgentBatch, agent_id: str, tool_name: str, as_json: bool) -> None:
    """Give an agent a tool (built-in or custom)."""
    agent_id = await resolve(app.db, "agent", app.org_id, agent_id)
    _done(await app.agent_edits.attach_tool(app.org_id, agent_id, tool_name), "attached", as_json)


@click.command("detach-tool")
@click.argument("agent_id")
@click.argument("tool_name")
@database_option
@json_option
@with_app
async def detach_tool(app: AgentBatch, agent_id: str, tool_name: str, as_json: bool) -> None:
    """Take a tool from an agent (refused while its tool rules name the tool)."""
    agent_id = await resolve(app.db, "agent", app.org_id, agent_id)
    _done(await app.agent_edits.detach_tool(app.org_id, agent_id, tool_name), "detached", as_json)
