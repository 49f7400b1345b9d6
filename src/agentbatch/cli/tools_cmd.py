"""`agentbatch tools ...`: custom Python tools."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from agentbatch.app import AgentBatch
from agentbatch.cli.common import (
    console,
    database_option,
    json_option,
    limit_options,
    more_hint,
    print_json,
    read_text_file,
    with_app,
)
from agentbatch.errors import InvalidInput


@click.group("tools")
def tools_group() -> None:
    """Register and inspect custom Python tools (run in the sandbox)."""


@tools_group.command("create")
@click.option(
    "--file",
    "file_",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Python source of one function with type hints and a docstring.",
)
@click.option("--env", "env", multiple=True, help="NAME=value visible to the tool (repeat).")
@click.option("--requirement", "requirements", multiple=True, help="pip requirement (repeat).")
@click.option("--timeout", "timeout_s", type=float, default=None, help="Seconds per call.")
@click.option("--memory-mb", type=int, default=None)
@click.option(
    "--allow-network",
    is_flag=True,
    help="Let the tool reach public addresses (needs AGENTBATCH_TOOLS_ALLOW_NETWORK=1).",
)
@database_option
@json_option
@with_app
async def create_tool(
    app: AgentBatch,
    file_: str,
    env: tuple[str, ...],
    requirements: tuple[str, ...],
    timeout_s: float | None,
    memory_mb: int | None,
    allow_network: bool,
    as_json: bool,
) -> None:
    """Register a tool; its JSON schema is derived from the function's hints and docstring."""
    env_map = _env_pairs(env)
    tool = await app.tools.create_tool(
        app.org_id,
        {
            "source": read_text_file(file_),
            "env": env_map,
            "requirements": list(requirements),
            "timeout_s": timeout_s,
            "memory_mb": memory_mb,
            "allow_network": allow_network,
        },
    )
    if as_json:
        print_json(tool)
        return
    console.print(
        f"created tool [bold]{escape(tool['name'])}[/bold]: {escape(tool['description'])}"
    )
    console.print(f"  parameters: {escape(_describe_parameters(tool['parameters']))}")
    settings = tool["settings"] or {}
    injected = [p for p in ("agent_id", "memory") if settings.get(f"wants_{p}")]
    if injected:
        console.print(f"  injected by the runtime: {', '.join(injected)}")
    console.print(f"  network: {'public addresses' if settings.get('allow_network') else 'none'}")


def _describe_parameters(schema: dict[str, Any]) -> str:
    """``city (string, required), days (integer, default 3)``, or ``none``."""
    required = set(schema.get("required") or ())
    parts = []
    for name, spec in (schema.get("properties") or {}).items():
        kind = spec.get("type", "any") if isinstance(spec, dict) else "any"
        kind = "/".join(kind) if isinstance(kind, list) else str(kind)
        if name in required:
            detail = "required"
        elif isinstance(spec, dict) and "default" in spec:
            detail = f"default {json.dumps(spec['default'])}"
        else:
            detail = "optional"
        parts.append(f"{name} ({kind}, {detail})")
    return ", ".join(parts) or "none"


@tools_group.command("list")
@limit_options(100)
@database_option
@json_option
@with_app
async def list_tools(app: AgentBatch, limit: int, all_: bool, as_json: bool) -> None:
    """List built-in and custom tools."""
    rows = await app.tools.list_tools(app.org_id)
    more = 0 if all_ else max(0, len(rows) - limit)
    rows = rows if all_ else rows[:limit]
    if as_json:
        print_json(rows)
    else:
        table = Table("name", "kind", "description")
        for t in rows:
            kind = "built-in" if (t["settings"] or {}).get("builtin") else "custom"
            table.add_row(escape(t["name"]), kind, escape(t["description"][:80]))
        console.print(table)
    more_hint(more, limit)


@tools_group.command("show")
@click.argument("name")
@database_option
@json_option
@with_app
async def show_tool(app: AgentBatch, name: str, as_json: bool) -> None:
    """Show a tool with its schema and settings (limits, requirements, allow_network;
    environment values masked)."""
    print_json(await app.tools.get_tool(app.org_id, name))


@tools_group.command("update")
@click.argument("name")
@click.option(
    "--file",
    "file_",
    type=click.Path(exists=True, dir_okay=False),
    help="New Python source (the same function name); its schema is derived again.",
)
@click.option("--description", default=None)
@click.option("--env", "env", multiple=True, help="Set NAME=value (repeat).")
@click.option("--unset-env", "unset_env", multiple=True, help="Remove a variable (repeat).")
@click.option("--requirement", "requirements", multiple=True, help="Replace the pip requirements.")
@click.option("--timeout", "timeout_s", type=float, default=None, help="Seconds per call.")
@click.option("--memory-mb", type=int, default=None)
@click.option(
    "--allow-network/--no-network",
    "allow_network",
    default=None,
    help="Let the tool reach public addresses (where the operator allows it), or not.",
)
@database_option
@json_option
@with_app
async def update_tool(
    app: AgentBatch,
    name: str,
    file_: str | None,
    description: str | None,
    env: tuple[str, ...],
    unset_env: tuple[str, ...],
    requirements: tuple[str, ...],
    timeout_s: float | None,
    memory_mb: int | None,
    allow_network: bool | None,
    as_json: bool,
) -> None:
    """Change a custom tool: source, description, environment, requirements, limits, network.

    Agents using it see the change from their next request."""
    changes: dict[str, Any] = {}
    if file_:
        changes["source"] = read_text_file(file_)
    if description is not None:
        changes["description"] = description
    env_changes: dict[str, str | None] = dict(_env_pairs(env))
    if unset_env:
        current = (await app.tools.get_tool(app.org_id, name))["settings"].get("env") or {}
        missing = [n for n in unset_env if n not in current]
        if missing:
            have = f" (it has {', '.join(sorted(current))})" if current else " (it has none)"
            raise InvalidInput(f"--unset-env: tool {name!r} has no variable {missing[0]!r}{have}")
    env_changes.update({n: None for n in unset_env})
    if env_changes:
        changes["env"] = env_changes
    if requirements:
        changes["requirements"] = list(requirements)
    if timeout_s is not None:
        changes["timeout_s"] = timeout_s
    if memory_mb is not None:
        changes["memory_mb"] = memory_mb
    if allow_network is not None:
        changes["allow_network"] = allow_network
    tool = await app.tools.update_tool(app.org_id, name, changes)
    if as_json:
        print_json(tool)
    else:
        console.print(f"updated tool [bold]{escape(tool['name'])}[/bold]: {', '.join(changes)}")


def _env_pairs(items: tuple[str, ...]) -> dict[str, str]:
    env_map = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"--env must look like NAME=value (got {item!r})")
        env_map[name] = value
    return env_map


@tools_group.command("delete")
@click.argument("name")
@database_option
@with_app
async def delete_tool(app: AgentBatch, name: str) -> None:
    """Delete a custom tool no agent uses."""
    await app.tools.delete_tool(app.org_id, name)
    console.print(f"deleted {name}")
