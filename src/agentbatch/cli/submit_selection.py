"""`batches submit` without a file: the agents a selection picks, one templated message;
and the job limits (deadline, budget) and `--estimate` any submit takes."""

from __future__ import annotations

from typing import Any

import click

from agentbatch.cli.selectors_cmd import selector_from
from agentbatch.errors import InvalidInput

_SELECTION = ("tags", "any_tags", "agent_ids", "selector", "message")


def selection_options(fn: Any) -> Any:
    """--tag / --any-tag / --agent / --selector / --message (``--model`` names the model of
    agents made from an OpenAI batch file there: select by model with a saved selector)."""
    for option in reversed(
        (
            click.option(
                "--tag", "tags", multiple=True, help="Agents with this tag (repeat: all)."
            ),
            click.option("--any-tag", "any_tags", multiple=True, help="Agents with one of these."),
            click.option(
                "--agent",
                "agent_ids",
                multiple=True,
                help="This agent: id, id prefix or name (repeat).",
            ),
            click.option("--selector", default=None, help="A saved selector's name."),
            click.option("--message", default=None, help="The message every selected agent gets."),
        )
    ):
        fn = option(fn)
    return fn


def limit_options(fn: Any) -> Any:
    """--deadline / --max-cost / --skip-busy / --estimate."""
    for option in reversed(
        (
            click.option("--deadline", default=None, help="Finish by: 6h, or an ISO time."),
            click.option("--max-cost", "max_cost", default=None, type=float, help="Budget, USD."),
            click.option(
                "--skip-busy/--no-skip-busy",
                default=None,
                help="Leave out agents busy in another job (default: yes for selections).",
            ),
            click.option(
                "--estimate", is_flag=True, help="Print the first step's tokens and cost only."
            ),
        )
    ):
        fn = option(fn)
    return fn


def selection_spec(selection: dict[str, Any]) -> dict[str, Any]:
    """The job body for a selection given on the command line."""
    agents = selector_from(selection["tags"], selection["any_tags"], selection["agent_ids"], None)
    if agents is None and selection["selector"] is None:
        raise InvalidInput("give FILE, or --tag / --any-tag / --agent / --selector")
    if agents is not None and selection["selector"] is not None:
        raise InvalidInput("give the agents (--tag, --any-tag, --agent) or --selector, not both")
    if selection["message"] is None:
        raise InvalidInput("--message is required with a selection")
    spec: dict[str, Any] = {"messages": selection["message"]}
    if agents is not None:
        spec["agents"] = agents
    if selection["selector"] is not None:
        spec["selector"] = selection["selector"]
    return spec


def check_no_selection(selection: dict[str, Any]) -> None:
    if any(selection.get(k) for k in _SELECTION):
        raise InvalidInput("give FILE, or a selection (--tag, --selector, ...) with --message")


def job_limits(selection: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, name in (
        ("deadline", "deadline"),
        ("max_cost", "max_cost_usd"),
        ("skip_busy", "skip_busy"),
    ):
        if selection.get(key) is not None:
            out[name] = selection[key]
    return out
