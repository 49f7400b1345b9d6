"""Chat prompt for the embedded model, in ChatML (SmolLM2's chat format).

Tool calls in the history are shown as the same JSON the grammar makes the model write
(``{"name": ..., "arguments": {...}}``), and tool results as user turns naming the tool:
a 135M model follows plain text better than roles it was not trained on. A tool-call
prompt lists the tools in the system turn and ends with an instruction to write the call
(see :func:`call_tail`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agentbatch.domain.messages import Message, ToolCall
from agentbatch.domain.model_io import ModelRequest, ToolSpec

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
MAX_DESCRIPTION_CHARS = 200
CALL_INSTRUCTION = (
    'Now choose one tool and write the call as JSON {"name": ..., "arguments": {...}}.'
)


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # system | user | assistant
    content: str


def call_json(call: ToolCall) -> str:
    """A tool call as the model writes it."""
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        arguments = call.arguments
    return json.dumps({"name": call.name, "arguments": arguments}, ensure_ascii=False)


def _clean(text: str) -> str:
    """Text with ChatML markers defused, so content cannot open or close a turn."""
    return text.replace(IM_START, "<| im_start |>").replace(IM_END, "<| im_end |>")


def _short(text: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tools_text(tools: Sequence[ToolSpec]) -> str:
    """The allowed tools, one line each, for the system turn.

    Parameters are left out: the grammar enforces them, and a small model given parameter
    lists tends to echo them (or the tool's name) as argument values.
    """
    lines = ["Tools:"]
    lines.extend(f"- {tool.name}: {_short(tool.description)}" for tool in tools)
    return "\n".join(lines)


def message_turn(message: Message) -> Turn:
    """One stored message as a ChatML turn."""
    if message.role == "assistant":
        parts = [message.content] if message.content else []
        parts.extend(call_json(c) for c in message.tool_calls)
        return Turn("assistant", "\n".join(parts))
    if message.role == "tool":
        status = "error" if message.is_error else "result"
        return Turn("user", f"[{message.name or 'tool'} {status}] {message.content or ''}")
    return Turn("user", message.content or "")


def request_turns(request: ModelRequest) -> tuple[Turn, list[Turn]]:
    """The system turn (without tools) and the conversation turns of ``request``."""
    return Turn("system", request.system.strip()), [message_turn(m) for m in request.messages]


def with_tools(system: Turn, tools: Sequence[ToolSpec]) -> Turn:
    """``system`` followed by the tool list."""
    return Turn("system", f"{system.content}\n\n{tools_text(tools)}".strip())


def call_tail() -> list[Turn]:
    """The turn that ends a tool-call prompt: the instruction to write the call (a small
    model follows the last turn far better than the system turn)."""
    return [Turn("user", CALL_INSTRUCTION)]


def chatml(turns: Sequence[Turn]) -> str:
    """ChatML text ending with an open assistant turn."""
    body = "".join(f"{IM_START}{t.role}\n{_clean(t.content)}{IM_END}\n" for t in turns)
    return f"{body}{IM_START}assistant\n"


def fit_prompt(
    system: Turn,
    turns: Sequence[Turn],
    count_tokens: Callable[[str], int],
    budget: int,
    tail: Sequence[Turn] = (),
) -> tuple[str, int] | None:
    """The prompt with the most recent turns that fit ``budget`` tokens.

    ``system`` and ``tail`` are always kept, then the newest of ``turns``; the oldest are
    dropped first. Returns the prompt and how many turns were dropped, or None when not even
    ``system``, ``tail`` and the last turn fit.
    """
    empty = count_tokens(chatml([]))
    used = count_tokens(chatml([system, *tail]))
    kept = 0
    for turn in reversed(turns):
        cost = count_tokens(chatml([turn])) - empty
        if used + cost > budget:
            break
        used += cost
        kept += 1
    if used > budget or (turns and kept == 0):
        return None
    dropped = len(turns) - kept
    return chatml([system, *turns[dropped:], *tail]), dropped
