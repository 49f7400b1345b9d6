"""The bench's options for cost measurements (scripts, conversation caching, the time
between a run's steps on the Anthropic emulator's clock)."""

from __future__ import annotations

from typing import Any

import click


def cost_options(fn: Any) -> Any:
    """Options named as ``bench.BenchConfig``'s fields (``script``, ``cache_conversation``,
    ``batch_gap_s``): the command passes them on as they are."""
    for option in reversed(
        (
            click.option(
                "--script",
                "script",
                default="memory",
                show_default=True,
                type=click.Choice(["memory", "search"]),
                help="Steps edit memory (core_memory_append) or search (conversation_search).",
            ),
            click.option(
                "--cache-conversation",
                default=None,
                type=click.Choice(["auto", "1h", "5m", "off"]),
                help="Anthropic conversation caching (job option; default: auto).",
            ),
            click.option(
                "--batch-gap",
                "batch_gap_s",
                default=0.0,
                show_default=True,
                help="Seconds of emulated time between a run's steps (anthropic-emulator).",
            ),
        )
    ):
        fn = option(fn)
    return fn
