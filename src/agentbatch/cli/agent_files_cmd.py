"""`agentbatch agents import FILE.af` and `agentbatch agents export ID... > out.af`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from agentbatch.app import AgentBatch
from agentbatch.cli.common import (
    console,
    database_option,
    err_console,
    json_option,
    list_table,
    print_json,
    with_app,
)
from agentbatch.errors import InvalidInput
from agentbatch.services.lookup import names_in_use, resolve

MAX_FILE_BYTES = 256 * 1024 * 1024  # Letta's own limit on a batch request


def read_agent_file(path: str) -> Any:
    """The decoded JSON of an Agent File ('-' reads stdin)."""
    if path == "-":
        raw = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    else:
        p = Path(path)
        if not p.is_file():
            raise InvalidInput(f"{path}: no such file")
        if p.stat().st_size > MAX_FILE_BYTES:
            raise InvalidInput(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB")
        raw = p.read_bytes()
    if len(raw) > MAX_FILE_BYTES:
        raise InvalidInput(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not valid JSON ({exc})") from None


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--model", default=None, help="Use this model (provider/model) for every agent.")
@click.option(
    "--strict", is_flag=True, help="Refuse the file if anything in it cannot be imported."
)
@database_option
@json_option
@with_app
async def import_agents(
    app: AgentBatch, file: str, model: str | None, strict: bool, as_json: bool
) -> None:
    """Import a Letta Agent File (.af): agents, memory blocks (shared ones stay shared),
    tools, tool rules and message histories, in one transaction. What cannot be carried
    over is listed under "not imported"."""
    data = read_agent_file(file)
    report = await app.agent_files.import_file(app.org_id, data, model=model, strict=strict)
    await _note_shared_names(app, report)
    if as_json:
        print_json(report)
        return
    cells = [
        (
            escape(a["file_id"]),
            a["id"],
            escape(a["name"]),
            a["model"],
            escape(", ".join(a["blocks"])),
            f"{a['messages']} ({a['in_context']} in context)",
        )
        for a in report["agents"]
    ]
    headers = ("file id", "agent id", "name", "model", "blocks", "messages")
    console.print(list_table(headers, cells, ids=("agent id",)))
    tools = report["tools"]
    console.print(
        f"{report['blocks']} block(s) ({report['shared_blocks']} shared), "
        f"tools created: {', '.join(tools['created']) or 'none'}, "
        f"reused: {', '.join(tools['reused']) or 'none'}"
    )
    for line in report["mapped"]:
        console.print(f"[cyan]mapped:[/cyan] {escape(line)}")
    for line in report["not_imported"]:
        console.print(f"[yellow]not imported:[/yellow] {escape(line)}")


async def _note_shared_names(app: AgentBatch, report: dict[str, Any]) -> None:
    """Names are the CLI's handles: say when an imported agent's name is not unique."""
    names = [str(a["name"]) for a in report["agents"]]
    shared = sorted(
        n for n, ids in (await names_in_use(app.db, app.org_id, names)).items() if len(ids) > 1
    )
    if shared:
        err_console.print(
            f"[yellow]note:[/yellow] other agents are also named {escape(', '.join(shared))}: "
            "refer to these by id (the agent id column), or rename them with "
            "`agentbatch agents update ID --name NEW`",
            highlight=False,
        )


@click.command("export")
@click.argument("agent_ids", nargs=-1, required=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write here, not stdout."
)
@database_option
@with_app
async def export_agents(app: AgentBatch, agent_ids: tuple[str, ...], output: str | None) -> None:
    """Write agents (blocks, tools, rules, full histories) as one Letta Agent File.
    AGENT_IDS: ids, unique id prefixes or names. Tool secrets are written without their
    values, as Letta does. Nothing is written when an agent cannot be found."""
    ids = [await resolve(app.db, "agent", app.org_id, ref) for ref in agent_ids]
    data = await app.agent_files.export_agents(app.org_id, ids)
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if output is None:
        click.echo(text)
    else:
        Path(output).write_text(text + "\n", encoding="utf-8")
        console.print(f"wrote {len(data['agents'])} agent(s) to {output}", highlight=False)
