"""Keep each request within its model's context window (called by the prepare pass).

For a run's next request this counts its tokens (the window's counts come cached with
the window, so only new messages are counted) and asks ``step.window.plan_window``:

* it fits: the request goes as is (its item records the count and the window);
* over the threshold: the run's item becomes a *summary step* instead: a request, in the
  same provider batch as any other, that folds the oldest messages into the running
  summary. Its item carries the plan (``kind='summary'``, ``context``: how many messages
  leave, the note); the apply of its result evicts them (``in_context = false``) and
  stores the new summary at the head of the window, in one guarded transaction; the
  agent's own step goes in the next batch;
* it cannot fit even after eviction: the run fails with the reason; nothing is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from agentbatch.domain.agents import AgentSpec
from agentbatch.domain.messages import Message
from agentbatch.domain.model_io import ModelRequest, ToolSpec
from agentbatch.memory_settings import MemorySettings, window_for
from agentbatch.step.tokens import TextCounter, fixed_tokens, message_tokens, text_counter
from agentbatch.step.window import (
    FAIL,
    SEND,
    SUMMARY_SYSTEM,
    WindowPlan,
    plan_window,
    summary_prompt,
)

log = logging.getLogger(__name__)

SUMMARY_REQUEST_KIND = "summary_request"
# provider options a summary request does not inherit from the agent (extended thinking
# needs a budget below max_tokens, which a short summary does not have)
_NOT_FOR_SUMMARIES = frozenset({"thinking"})


@dataclass(frozen=True, slots=True)
class Fitted:
    request: ModelRequest
    kind: str | None = None  # "summary" for a summary step
    context: dict[str, Any] | None = None  # recorded with the item
    failure: str | None = None  # why nothing can be sent


class WindowFitter:
    """One per prepared chunk: caches the token count of each tool list it sees."""

    def __init__(self, settings: MemorySettings) -> None:
        self.settings = settings
        self._tools: dict[tuple[str, tuple[int, ...]], int] = {}

    def _fixed(self, counter: TextCounter, system: str, tools: Sequence[ToolSpec]) -> int:
        key = (counter.name, tuple(id(t) for t in tools))
        found = self._tools.get(key)
        if found is None:
            found = self._tools[key] = fixed_tokens(counter, "", tools)
        return found + counter.count(system)

    def fit(
        self,
        agent: AgentSpec,
        request: ModelRequest,
        counts: list[int],
        *,
        stored: int,
    ) -> Fitted:
        """``counts``: token counts of the window's first messages, extended in place to
        the whole window (the caller caches the list with the window)."""
        window = (
            window_for(agent.model, agent.model_settings, self.settings)
            if self.settings.manage_context
            else None
        )
        if window is None:
            return Fitted(request)
        counter = text_counter(agent.model)
        messages = request.messages
        del counts[len(messages) :]
        for msg in messages[len(counts) :]:
            counts.append(message_tokens(counter, msg))
        fixed = self._fixed(counter, request.system, request.tools)
        plan = plan_window(
            messages,
            counts,
            stored=stored,
            fixed=fixed,
            window=window,
            max_tokens=request.max_tokens,
            settings=self.settings.window,
            count=counter.count,
        )
        if plan.action == SEND:
            return Fitted(request, context={"tokens": plan.tokens, "window": window})
        if plan.action == FAIL:
            return Fitted(request, failure=f"context window: {plan.note}")
        return self._summary(request, plan, window, counter)

    def _summary(
        self, base: ModelRequest, plan: WindowPlan, window: int, counter: TextCounter
    ) -> Fitted:
        words = plan.summary_tokens * 3 // 4
        system = SUMMARY_SYSTEM.format(words=words)
        lines = list(plan.fold)
        dropped = plan.dropped
        limit = window - plan.summary_tokens
        while True:
            message = Message(
                role="user", content=summary_prompt(plan.previous, lines), kind=SUMMARY_REQUEST_KIND
            )
            tokens = fixed_tokens(counter, system, ()) + message_tokens(counter, message)
            if tokens <= limit or not lines:
                break
            lines.pop(0)  # the oldest goes first
            dropped += 1
        if tokens > limit:
            return Fitted(
                base,
                failure=f"context window: even an empty summary request needs {tokens} "
                f"tokens, over the {limit} the window leaves",
            )
        note = plan.note
        if dropped > plan.dropped:
            note = (
                f"{dropped} evicted message(s) did not fit in the summary request and were "
                "left out of the summary (conversation_search still finds them)"
            )
        if note:
            log.info("summary step for agent %s: %s", base.agent_id, note)
        request = replace(
            base,
            system=system,
            messages=(message,),
            tools=(),
            tool_choice="none",
            max_tokens=plan.summary_tokens,
            temperature=None,
            options={k: v for k, v in base.options.items() if k not in _NOT_FOR_SUMMARIES},
            system_static=len(system),
            purpose="summary",
        )
        context = {
            "tokens": tokens,
            "window": window,
            "evict": plan.evict,
            "dropped": dropped,
            "summary_tokens": plan.summary_tokens,
            "step_tokens": plan.tokens,
            "note": note,
        }
        return Fitted(request, kind="summary", context=context)
