"""Shared CLI plumbing: run coroutines, open the store, print errors without tracebacks."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentbatch.app import AgentBatch
from agentbatch.errors import AgentBatchError, NotFound, UserError

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error stays on one line

database_option = click.option(
    "--database-url",
    envvar="AGENTBATCH_DATABASE_URL",
    default=None,
    help="Database URL (default: the SQLite file in $AGENTBATCH_HOME, ~/.agentbatch).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; user errors become a one-line message and exit code 2.

    Messages are escaped: brackets in them (``list[str]``) are text, not Rich markup."""
    try:
        return asyncio.run(coro)
    except UserError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(getattr(exc, "exit_code", 2))  # a provider that cannot be reached: 1
    except AgentBatchError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except OSError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(1)


ORG_HELP = "Organisation to act in (default: default; see `agentbatch keys create --org`)."


def with_app(fn: Callable[..., Awaitable[T]]) -> Callable[..., T]:
    """Open the store (migrating the SQLite default) around an async command body, acting
    in the organisation ``--org`` names (the command gains that option)."""

    @functools.wraps(fn)
    def wrapper(
        *args: Any, database_url: str | None = None, org: str | None = None, **kwargs: Any
    ) -> T:
        async def body() -> T:
            try:
                app = await AgentBatch.open(database_url)
            except Exception as exc:
                if isinstance(exc, AgentBatchError):
                    raise
                raise AgentBatchError(f"cannot open the database: {exc}") from exc
            async with app:
                if org and org != app.org_id:
                    await use_org(app, org)
                return await fn(app, *args, **kwargs)

        return run(body())

    return click.option("--org", envvar="AGENTBATCH_ORG", default=None, help=ORG_HELP)(wrapper)


async def use_org(app: AgentBatch, org: str) -> None:
    """Act in ``org``, which must exist (a typo must not create an empty organisation)."""
    from sqlalchemy import select

    from agentbatch.store.tables import organizations

    async with app.db.read() as conn:
        rows = (await conn.execute(select(organizations.c.id).order_by(organizations.c.id))).all()
    known = [r.id for r in rows]
    if org not in known:
        raise NotFound(
            f"no organisation {org!r}; known: {', '.join(known[:20])} "
            f"(create one with `agentbatch keys create --org {org}`)"
        )
    app.org_id = org


def limit_options(default: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--limit N`` and ``--all`` for a list command."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def exclusive(*args: Any, **kwargs: Any) -> Any:
            source = click.get_current_context().get_parameter_source("limit")
            if kwargs.get("all_") and source is not click.core.ParameterSource.DEFAULT:
                err_console.print("[red]error:[/red] give --all or --limit, not both")
                sys.exit(2)
            return fn(*args, **kwargs)

        with_all = click.option(
            "--all",
            "all_",
            is_flag=True,
            help="List everything (pages through the database); not with --limit.",
        )(exclusive)
        return click.option(
            "--limit",
            default=default,
            show_default=True,
            type=click.IntRange(1, 100_000),
            help="At most this many rows.",
        )(with_all)

    return decorate


def more_hint(more: int, limit: int) -> None:
    """The line under a cut list: how much was left out and how to see it."""
    if not more:
        return
    count = f"{more} more"
    err_console.print(
        f"[dim]... {count}; use --all to list everything, or --limit to show more than {limit}[/dim]"
    )


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def read_text_file(path: str) -> str:
    """A text file that must be UTF-8 (a leading byte-order mark is dropped); anything
    else is a one-line user error naming the file and the first bad byte."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None


def load_json_file(path: str) -> Any:
    """A JSON file, or JSONL (one object per line) when it has several top-level values."""
    text = read_text_file(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
    return rows


def setup_logging(verbose: bool) -> None:
    """Text lines, or JSON lines with ``AGENTBATCH_LOG_FORMAT=json``; each carries the
    job, run and provider-batch ids of the work it is about."""
    from agentbatch.observability.logs import setup_logging as setup
    from agentbatch.observability.settings import ObservabilitySettings

    try:
        log_format = ObservabilitySettings.from_env().log_format
    except AgentBatchError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(2)
    setup(verbose, log_format)


def list_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, ids: Collection[str] = ("id",)
) -> Table:
    """A list as a table whose id columns are never cut or wrapped (as wide as their longest
    id), whatever the terminal's width or when piped; the other columns shrink instead."""
    table = Table()
    for i, header in enumerate(headers):
        if header in ids:
            width = max([len(header), *(len(row[i]) for row in rows)])
            table.add_column(header, no_wrap=True, min_width=width)
        else:
            table.add_column(header)
    for row in rows:
        table.add_row(*row)
    return table
