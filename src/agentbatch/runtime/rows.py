"""Build row dicts for bulk writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agentbatch.domain.messages import Message


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
    return {
        "org_id": org_id,
        "agent_id": agent_id,
        "job_id": job_id,
        "run_id": run_id,
        "step": step,
        "role": msg.role,
        "kind": msg.kind,
        "content": msg.content,
        "reasoning": msg.reasoning,
        "reasoning_signature": msg.reasoning_signature,
        "tool_calls": [c.to_dict() for c in msg.tool_calls] if msg.tool_calls else None,
        "tool_call_id": msg.tool_call_id,
        "name": msg.name,
        "is_error": msg.is_error,
        "in_context": True,
        "created_at": now,
    }
