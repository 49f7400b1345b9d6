"""Row dicts for an apply chunk's writes: messages, and runs that advance, end or fail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentbatch.domain.messages import Message
from agentbatch.domain.model_io import ItemResult
from agentbatch.domain.statuses import RunStatus
from agentbatch.domain.text import storable, storable_opt
from agentbatch.step.resolve import StepOutcome
from agentbatch.step.workspace import BlockEdit
from agentbatch.store.rows import RunState
from agentbatch.store.step_writes import StepWrites


def message_row(
    msg: Message,
    *,
    org_id: str,
    agent_id: str,
    job_id: str,
    run_id: str,
    step: int,
    now: datetime,
) -> dict[str, Any]:
    """A message as stored; its text made storable (NUL, lone surrogates)."""
    return {
        "org_id": org_id,
        "agent_id": agent_id,
        "job_id": job_id,
        "run_id": run_id,
        "step": step,
        "role": msg.role,
        "kind": msg.kind,
        "content": storable_opt(msg.content),
        "reasoning": storable_opt(msg.reasoning),
        "reasoning_signature": storable_opt(msg.reasoning_signature),
        "tool_calls": [
            {"id": storable(c.id), "name": storable(c.name), "arguments": storable(c.arguments)}
            for c in msg.tool_calls
        ]
        if msg.tool_calls
        else None,
        "tool_call_id": storable_opt(msg.tool_call_id),
        "name": storable_opt(msg.name),
        "is_error": msg.is_error,
        "in_context": True,
        "created_at": now,
    }


def history_rows(edits: list[BlockEdit], now: datetime) -> list[dict[str, Any]]:
    """One block-history row per memory edit, in the order the edits happened."""
    return [
        {
            "block_id": e.block.id,
            "org_id": e.editor.org_id if e.editor else "",
            "version": e.block.version,
            "value": storable(e.block.value),
            "source": "tool",
            "agent_id": e.editor.agent_id if e.editor else None,
            "run_id": e.editor.run_id if e.editor else None,
            "step": e.editor.step if e.editor else None,
            "tool": e.tool,
            "created_at": now,
        }
        for e in edits
    ]


def failed_run(run_id: str, error: str, kind: str, now: datetime) -> dict[str, Any]:
    return {
        "b_id": run_id,
        "status": RunStatus.FAILED.value,
        "last_error": storable(error),
        "error_kind": kind,
        "stop_reason": "error",
        "finished_at": now,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires": None,
    }


def step_rows(
    outcome: StepOutcome,
    run: RunState,
    org_id: str,
    result: ItemResult,
    now: datetime,
    writes: StepWrites,
    keep_output: bool = True,
) -> None:
    """The messages and run update of one resolved step."""
    assert result.response is not None
    common: dict[str, Any] = {
        "org_id": org_id,
        "agent_id": run.agent_id,
        "job_id": run.job_id,
        "run_id": run.id,
        "now": now,
    }
    writes.messages.append(message_row(outcome.assistant, step=run.step, **common))
    for msg in outcome.tool_messages:
        writes.messages.append(message_row(msg, step=run.step, **common))
    if outcome.heartbeat is not None:
        writes.messages.append(message_row(outcome.heartbeat, step=run.step + 1, **common))
    usage = result.response.usage
    update: dict[str, Any] = {
        "b_id": run.id,
        "step": run.step + 1,
        "attempt": 1,
        "solver_state": outcome.state.to_dict(keep_output=keep_output),
        "input_tokens": run.input_tokens + usage.input_tokens,
        "output_tokens": run.output_tokens + usage.output_tokens,
        "cache_read_tokens": run.cache_read_tokens + usage.cache_read_tokens,
        "cache_write_tokens": run.cache_write_tokens + usage.cache_write_tokens,
        "reply": storable(outcome.reply) if outcome.reply is not None else run.reply,
        "last_error": None,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires": None,
    }
    if outcome.done:
        update.update(
            status=RunStatus.COMPLETED.value,
            stop_reason=outcome.stop_reason,
            finished_at=now,
            not_before=now,
        )
    else:
        update.update(
            status=RunStatus.QUEUED.value, stop_reason=None, finished_at=None, not_before=now
        )
    writes.run_updates.append(update)
