"""`agentbatch serve` (the HTTP API) and `agentbatch keys create|list|revoke`."""

from __future__ import annotations

import socket
from typing import Any

import click

from agentbatch.app import DEFAULT_ORG, AgentBatch
from agentbatch.cli.common import (
    console,
    database_option,
    err_console,
    list_table,
    print_json,
    with_app,
)
from agentbatch.cli.common import json_option as _json_option
from agentbatch.listening import bind_listener

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _listen(host: str, port: int) -> socket.socket:
    """A port already in use (or a host this machine does not have) is a one-line error
    and exit 1, before anything else is printed (uvicorn would log lines, then exit 3)."""
    try:
        return bind_listener(host, port)
    except OSError as exc:
        err_console.print(
            f"[red]error:[/red] cannot listen on {host}:{port}: {exc.strerror or exc}"
        )
        raise SystemExit(1) from None


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--with-worker", is_flag=True, help="Run a worker in the same process.")
@click.option(
    "--no-auth",
    is_flag=True,
    help=f"Serve the {DEFAULT_ORG!r} organisation without API keys (local use only).",
)
@click.option(
    "--max-body-mb",
    default=64,
    show_default=True,
    type=click.IntRange(1, 4096),
    help="Largest request body accepted (413 above it).",
)
@click.option(
    "--org",
    envvar="AGENTBATCH_ORG",
    default=DEFAULT_ORG,
    show_default=True,
    help="With --no-auth: the organisation every request acts in.",
)
@database_option
def serve(
    host: str,
    port: int,
    with_worker: bool,
    no_auth: bool,
    max_body_mb: int,
    org: str,
    database_url: str | None,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs)."""
    from agentbatch.api import ApiConfig, create_app
    from agentbatch.api.server import serve as run_server

    sock = _listen(host, port)
    if no_auth and host not in _LOOPBACK:
        err_console.print(
            f"[yellow]warning:[/yellow] --no-auth on {host}: anyone who can reach this port "
            f"acts as the {org!r} organisation"
        )
    config = ApiConfig(
        database_url=database_url,
        auth=not no_auth,
        default_org=org,
        with_worker=with_worker,
        max_body_bytes=max_body_mb * 1024 * 1024,
    )
    console.print(
        f"agentbatch API on http://{host}:{port} (dashboard: /, docs: /docs, metrics: /metrics; "
        f"auth: {'off' if no_auth else 'API keys'}; "
        f"worker: {'in process' if with_worker else 'separate'})"
    )
    run_server(create_app(config), host, port, sock=sock)


@click.command("ui")
@click.option("--port", default=8321, show_default=True, type=click.IntRange(0, 65535))
@click.option("--no-browser", is_flag=True, help="Only print the address.")
@click.option("--no-worker", is_flag=True, help="Do not run a worker in this process.")
@database_option
def ui(port: int, no_browser: bool, no_worker: bool, database_url: str | None) -> None:
    """Open the dashboard on this machine: a server on 127.0.0.1 over the default database
    (no API key: the default organisation), with a worker, and a browser if there is one."""
    import threading
    import webbrowser

    from agentbatch.api import ApiConfig, create_app
    from agentbatch.api.server import serve as run_server

    sock = _listen("127.0.0.1", port)  # port 0: a free one, named by the bound socket
    port = int(sock.getsockname()[1])
    url = f"http://127.0.0.1:{port}/"
    config = ApiConfig(database_url=database_url, auth=False, with_worker=not no_worker)
    console.print(f"agentbatch dashboard on {url} (Ctrl-C stops it)")
    if not no_browser:
        # once the server is up; a machine without a browser just keeps the printed address
        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    run_server(create_app(config), "127.0.0.1", port, sock=sock)


@click.group("keys")
def keys_group() -> None:
    """API keys for the HTTP API (each belongs to one organisation)."""


@keys_group.command("create")
@click.option("--org", "org", required=True, help="Organisation name (created if new).")
@click.option("--name", default="", help="A label for the key (who or what uses it).")
@database_option
@_json_option
def keys_create(org: str, name: str, database_url: str | None, as_json: bool) -> None:
    """Mint a key. The key is printed once; only its hash is stored."""

    @with_app
    async def body(app: AgentBatch) -> Any:
        from agentbatch.keys import create_key

        return await create_key(app.db, org, name)

    key = body(database_url=database_url)
    if as_json:
        print_json(
            {"id": key.id, "org_id": key.org_id, "name": key.name, "prefix": key.prefix}
            | {"key": key.secret}
        )
        return
    console.print(f"API key for organisation [bold]{key.org_id}[/bold] (id {key.id}):")
    click.echo(key.secret)
    console.print("Store it now: it is not shown again.", style="dim")


@keys_group.command("list")
@click.option("--org", "org", default=None, help="Only this organisation's keys.")
@database_option
@_json_option
def keys_list(org: str | None, database_url: str | None, as_json: bool) -> None:
    """List keys (prefixes only; secrets are never stored)."""

    @with_app
    async def body(app: AgentBatch) -> Any:
        from agentbatch.keys import list_keys

        return await list_keys(app.db, org)

    rows = body(database_url=database_url)
    if as_json:
        print_json(rows)
        return
    cells = [
        (r["id"], r["org_id"], r["prefix"], r["name"], r["created_at"], r["revoked_at"] or "")
        for r in rows
    ]
    console.print(list_table(("id", "org", "prefix", "name", "created", "revoked"), cells))


@keys_group.command("revoke")
@click.argument("key_ref")
@database_option
def keys_revoke(key_ref: str, database_url: str | None) -> None:
    """Revoke a key by its id or its prefix (requests with it get 401 at once)."""

    @with_app
    async def body(app: AgentBatch) -> Any:
        from agentbatch.keys import revoke_key

        return await revoke_key(app.db, key_ref)

    row = body(database_url=database_url)
    console.print(f"revoked {row['id']} ({row['prefix']}, organisation {row['org_id']})")
