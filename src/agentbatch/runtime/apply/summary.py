"""Pure planning of a succeeded summary item (see ``runtime.summaries``).

Its writes, in the chunk's one guarded transaction: the agent's current summary and its
``evict`` oldest other in-context messages leave the window (``in_context = false``;
they stay in the history, found by ``conversation_search``); the new summary message is
inserted (kind ``summary``, at the head of the window); the run goes back to ``queued``
at the same step with attempt 1, its summary and eviction counters grown and the summary's
tokens added to its usage (a batch item like any other, billed at the batch price). A
summary answer without text is a failed item: retried like any other, then the run fails.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentbatch.domain.model_io import ItemResult
from agentbatch.domain.statuses import RunStatus
from agentbatch.domain.text import storable
from agentbatch.runtime.apply.rows import message_row
from agentbatch.step.window import summary_message, summary_text
from agentbatch.store.rows import ItemRef, RunState
from agentbatch.store.step_writes import StepWrites

NOTE_CHARS = 1000


def summary_run_update(
    run: RunState, context: dict[str, Any], result: ItemResult, now: datetime
) -> dict[str, Any]:
    assert result.response is not None
    usage = result.response.usage
    tokens = max(int(context.get("step_tokens") or 0), int(context.get("tokens") or 0))
    update: dict[str, Any] = {
        "b_id": run.id,
        "status": RunStatus.QUEUED.value,
        "attempt": 1,
        "not_before": now,
        "summary_steps": run.summary_steps + 1,
        "evicted_messages": run.evicted_messages + int(context.get("evict") or 0),
        "context_tokens": max(run.context_tokens or 0, tokens),
        "context_window": context.get("window"),
        "input_tokens": run.input_tokens + usage.input_tokens,
        "output_tokens": run.output_tokens + usage.output_tokens,
        "cache_read_tokens": run.cache_read_tokens + usage.cache_read_tokens,
        "cache_write_tokens": run.cache_write_tokens + usage.cache_write_tokens,
        "last_error": None,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires": None,
    }
    note = context.get("note")
    if note:
        update["context_note"] = storable(str(note)[:NOTE_CHARS])
    return update


def plan_summary(
    item: ItemRef,
    run: RunState,
    org_id: str,
    result: ItemResult,
    writes: StepWrites,
    now: datetime,
) -> bool:
    """Add the summary's writes; False when the answer has no text (a failed item)."""
    assert result.response is not None
    context = dict(item.context or {})
    cap = int(context.get("summary_tokens") or 1024)
    text = summary_text("", result.response.content, cap)
    if not text:
        return False
    writes.evict.append((run.agent_id, int(context.get("evict") or 0)))
    writes.messages.append(
        message_row(
            summary_message(text),
            org_id=org_id,
            agent_id=run.agent_id,
            job_id=run.job_id,
            run_id=run.id,
            step=run.step,
            now=now,
        )
    )
    writes.run_updates.append(summary_run_update(run, context, result, now))
    return True
