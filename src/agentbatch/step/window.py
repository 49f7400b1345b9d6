"""Context-window planning (pure): does the next request fit, and if not, which of the
oldest messages leave the window and what the summary step that folds them is given.

The window is the agent's running summary (a ``summary`` message, if any) followed by its
other in-context messages, oldest first; messages not yet stored (a job's new input) come
last and never leave. A request is ``fixed`` tokens (system message with memory, tools)
plus the window's messages, and must leave ``max_tokens`` for the answer:

* at or under ``threshold`` of the prompt budget (``window - max_tokens``): sent as is;
* over it: the oldest messages are evicted, cutting only before a user message (an
  assistant's tool calls always stay with their results), as few as bring the request to
  ``target`` of the budget with room for the new summary; if none do, as many as fit the
  budget at all ("harder"); the run takes a summary step first;
* if no cut fits the budget the request cannot be sent (the plan says why).

The summary request itself must fit the window too: messages that do not fit in it are
evicted without being folded in, and the plan's note says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentbatch.domain.messages import Message

SEND, SUMMARISE, FAIL = "send", "summarise", "fail"
SUMMARY_KIND = "summary"
SUMMARY_HEAD = (
    "[Summary of the earlier conversation: older messages were moved out of your context "
    "window; conversation_search finds them.]\n"
)
SUMMARY_SYSTEM = (
    "You keep the running summary of a conversation between a user and an AI agent whose "
    "oldest messages are leaving its context window. Fold the messages below into the "
    "previous summary. Keep every fact, name, number, date, decision, open task and user "
    "preference, and any token marked 'fact'; drop greetings and tool mechanics. Answer with "
    "the new summary only: plain text, at most {words} words."
)
MESSAGE_CHARS = 2000  # one evicted message's text, at most, in a summary request
MIN_SUMMARY_TOKENS = 64


@dataclass(frozen=True, slots=True)
class WindowSettings:
    threshold: float = 0.75  # of the prompt budget: past it, evict and summarise
    target: float = 0.5  # of the prompt budget: where eviction aims to bring the window
    summary_tokens: int = 1024  # the summary's length at most (and at most a fifth of budget)


@dataclass(frozen=True, slots=True)
class WindowPlan:
    action: str  # send | summarise | fail
    tokens: int  # the request's prompt, counted (for ``send``: what is sent)
    budget: int  # window - max_tokens
    evict: int = 0  # oldest non-summary messages that leave the window
    fold: tuple[str, ...] = ()  # transcript lines the summary step folds in
    previous: str = ""  # the running summary being extended
    dropped: int = 0  # evicted messages left out of the summary request (did not fit)
    summary_tokens: int = 0  # max_tokens of the summary request
    note: str = ""
    kept_tokens: int = field(default=0)  # the window after the summary, estimated


def order_window(messages: Sequence[Message]) -> list[Message]:
    """Summaries first, then every other message in history order."""
    heads = [m for m in messages if m.kind == SUMMARY_KIND]
    if not heads or (len(heads) == 1 and messages[0] is heads[0]):
        return list(messages)
    return heads + [m for m in messages if m.kind != SUMMARY_KIND]


def summary_body(message: Message) -> str:
    text = message.content or ""
    return text[len(SUMMARY_HEAD) :] if text.startswith(SUMMARY_HEAD) else text


def transcript_line(msg: Message) -> str | None:
    """One evicted message as the summary step sees it (None: nothing worth folding)."""

    def cut(text: str) -> str:
        return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + " […]"

    if msg.kind == "heartbeat":
        return None
    if msg.role == "assistant":
        parts = [cut(msg.content)] if msg.content else []
        parts += [f"called {c.name}({cut(c.arguments)})" for c in msg.tool_calls]
        return "assistant: " + "; ".join(parts) if parts else None
    if msg.role == "tool":
        return f"tool {msg.name or ''} returned: {cut(msg.content or '')}"
    if msg.kind == SUMMARY_KIND:
        return f"earlier summary: {cut(summary_body(msg))}"
    return f"{msg.kind if msg.kind == 'system' else 'user'}: {cut(msg.content or '')}"


def summary_prompt(previous: str, lines: Sequence[str]) -> str:
    return (
        f"Previous summary:\n{previous or '(none yet)'}\n\n"
        "Messages leaving the context window, oldest first:\n" + "\n".join(lines)
    )


def plan_window(
    messages: Sequence[Message],
    counts: Sequence[int],
    *,
    stored: int,
    fixed: int,
    window: int,
    max_tokens: int,
    settings: WindowSettings,
    count: Callable[[str], int],
) -> WindowPlan:
    """``messages`` in window order with their token ``counts``; the first ``stored`` are
    in the database (the rest are new and stay). ``count`` counts a text's tokens."""
    budget = window - max_tokens
    total = fixed + sum(counts)
    if total <= settings.threshold * budget:
        return WindowPlan(SEND, total, budget)
    head = 1 if messages and messages[0].kind == SUMMARY_KIND else 0
    cap = max(MIN_SUMMARY_TOKENS, min(settings.summary_tokens, budget // 5))
    summary_cost = cap + count(SUMMARY_HEAD) + 8
    cuts = [
        p
        for p in range(head + 1, min(stored, len(messages) - 1) + 1)
        if messages[p].role == "user" and messages[p].kind != SUMMARY_KIND
    ]
    suffix = [0] * (len(counts) + 1)
    for i in range(len(counts) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + counts[i]
    fits = [p for p in cuts if fixed + summary_cost + suffix[p] <= budget]
    aim = [p for p in fits if fixed + summary_cost + suffix[p] <= settings.target * budget]
    if not fits:
        if total <= budget:
            return WindowPlan(SEND, total, budget, note="over the threshold; nothing to evict")
        return WindowPlan(
            FAIL,
            total,
            budget,
            note=(
                f"the request needs {total} tokens but the model's window leaves {budget} "
                f"for the prompt ({window} minus max_tokens {max_tokens}); the system "
                f"message, memory and tools take {fixed} and no eviction makes it fit"
            ),
        )
    cut = aim[0] if aim else fits[-1]
    if (
        not aim
        and total <= budget
        and fixed + summary_cost + suffix[cut] > settings.threshold * budget
    ):
        return WindowPlan(SEND, total, budget, note="over the threshold; eviction would not help")
    previous = summary_body(messages[0]) if head else ""
    lines = [line for m in messages[head:cut] if (line := transcript_line(m)) is not None]
    room = window - cap - fixed_summary_tokens(count, cap) - count(previous) - 8
    kept: list[str] = []
    used = 0
    for line in reversed(lines):  # the newest evicted messages matter most
        size = count(line) + 1
        if used + size > room:
            break
        kept.append(line)
        used += size
    kept.reverse()
    dropped = len(lines) - len(kept)
    notes = []
    if not aim:
        notes.append(
            f"evicted harder than the target: the window stays above {settings.target:.0%}"
        )
    if dropped:
        notes.append(
            f"{dropped} evicted message(s) did not fit in the summary request and were left "
            "out of the summary (conversation_search still finds them)"
        )
    return WindowPlan(
        SUMMARISE,
        total,
        budget,
        evict=cut - head,
        fold=tuple(kept),
        previous=previous,
        dropped=dropped,
        summary_tokens=cap,
        note="; ".join(notes),
        kept_tokens=fixed + summary_cost + suffix[cut],
    )


def fixed_summary_tokens(count: Callable[[str], int], cap: int) -> int:
    """The summary request's own framing: its system message and prompt headings."""
    return count(SUMMARY_SYSTEM.format(words=cap * 3 // 4)) + count(summary_prompt("", [])) + 32


def summary_text(previous: str, response_text: str | None, cap: int) -> str:
    """The new running summary (what the model wrote, cut to about ``cap`` tokens)."""
    text = (response_text or "").strip()
    if not text:
        text = previous
    limit = cap * 4
    return text if len(text) <= limit else text[:limit] + " […]"


def summary_message(text: str) -> Message:
    return Message(role="user", content=SUMMARY_HEAD + text, kind=SUMMARY_KIND)
