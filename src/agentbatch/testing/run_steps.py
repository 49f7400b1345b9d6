"""Step counting per run for the emulators, as the ``scripted/`` provider counts
(``request.step``): step ``n`` is the run's ``n``-th model call, so an agent with history
from earlier jobs starts every job at the top of the script.

A run starts at its input: the last user message with text of its own that is not a
heartbeat (tool results and heartbeats continue a run). Its step is the number of
assistant turns after that message; ``{input}`` in a script means that message's text."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

# the emulators' script when none is given: a memory edit, then a reply
DEFAULT_SCRIPT: list[dict[str, Any]] = [
    {
        "tool": "core_memory_append",
        "args": {"label": "human", "content": "{input}"},
        "heartbeat": True,
    },
    {"text": "Noted: {input}"},
]


def is_heartbeat(text: str) -> bool:
    return text.lstrip().startswith('{"type": "heartbeat"')


def run_start(
    messages: Sequence[Mapping[str, Any]], text_of: Callable[[Mapping[str, Any]], str]
) -> tuple[int, str]:
    """(index of this run's input message or -1, its text); ``text_of`` gives a user
    message's own text (not its tool results)."""
    start, text = -1, ""
    for i, message in enumerate(messages):
        if message.get("role") != "user":
            continue
        own = text_of(message)
        if own.strip() and not is_heartbeat(own):
            start, text = i, own
    return start, text


def run_position(
    messages: Sequence[Mapping[str, Any]], text_of: Callable[[Mapping[str, Any]], str]
) -> tuple[int, str]:
    """(this run's step, the text of its input message) for a request's message list."""
    start, text = run_start(messages, text_of)
    step = sum(1 for m in messages[start + 1 :] if m.get("role") == "assistant")
    return step, text
