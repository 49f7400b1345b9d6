"""Letta's batch API shapes (``CreateBatch``, ``BatchJob``, batch messages) mapped onto our
jobs. Pure: the Letta routes call the job service and these functions.

A Letta batch is one of our jobs. Per-request ``max_steps`` becomes the job's ``max_steps``
(requests that ask for different values are refused: a job has one); the response-shape
options (``use_assistant_message``, ``include_return_message_types``, ...) change nothing
in a batch and are accepted; client-side tools, approvals and images are refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentbatch.errors import InvalidInput
from agentbatch.ids import iso

DEFAULT_MAX_STEPS = 50  # Letta's DEFAULT_MAX_STEPS
MAX_STEPS = 1000  # our limit per job
MESSAGE_PREFIX = "message-"


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = "text"
    text: str | None = None


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str | None = "message"
    role: str = "user"
    content: str | list[TextPart]


class LettaBatchRequest(BaseModel):
    """One request of a batch (Letta's LettaBatchRequest); unknown options are ignored."""

    model_config = ConfigDict(extra="allow")
    agent_id: str = Field(min_length=1, max_length=200)
    messages: list[MessageCreate] | None = None
    input: str | list[TextPart] | None = None
    max_steps: int | None = Field(default=None, ge=1)
    client_tools: list[dict[str, Any]] | None = None
    override_model: str | None = None


class CreateBatch(BaseModel):
    """Body of ``POST /v1/messages/batches``."""

    model_config = ConfigDict(extra="allow")
    requests: list[LettaBatchRequest]
    callback_url: str | None = Field(default=None, max_length=2000)


def _text(content: str | list[TextPart], where: str) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content):
        if part.type != "text" or part.text is None:
            raise InvalidInput(f"{where}[{j}]: only text content is supported (got {part.type!r})")
        texts.append(part.text)
    return "\n".join(texts)


def request_messages(i: int, req: LettaBatchRequest) -> list[dict[str, str]]:
    where = f"requests[{i}]"
    if req.client_tools:
        raise InvalidInput(f"{where}.client_tools: client-side tools are not supported")
    if req.override_model:
        raise InvalidInput(f"{where}.override_model: not supported; a job uses each agent's model")
    if (req.input is None) == (req.messages is None):
        raise InvalidInput(f"{where}: give either 'input' or 'messages'")
    if req.input is not None:
        return [{"role": "user", "content": _text(req.input, f"{where}.input")}]
    out = []
    for j, msg in enumerate(req.messages or ()):
        if (msg.type or "message") != "message":
            raise InvalidInput(f"{where}.messages[{j}]: {msg.type} messages are not supported")
        if msg.role != "user":
            raise InvalidInput(f"{where}.messages[{j}].role: only user messages can start a step")
        out.append(
            {"role": "user", "content": _text(msg.content, f"{where}.messages[{j}].content")}
        )
    return out


def job_create(body: CreateBatch) -> dict[str, Any]:
    """Our ``JobCreate`` for a Letta ``CreateBatch``."""
    steps = {r.max_steps for r in body.requests if r.max_steps is not None}
    if len(steps) > 1:
        raise InvalidInput(
            f"requests ask for different max_steps ({', '.join(map(str, sorted(steps)))}); "
            "agentbatch runs one max_steps per batch"
        )
    max_steps = min(steps.pop() if steps else DEFAULT_MAX_STEPS, MAX_STEPS)
    return {
        "requests": [
            {"agent_id": r.agent_id, "messages": request_messages(i, r)}
            for i, r in enumerate(body.requests)
        ],
        "max_steps": max_steps,
        "callback_url": body.callback_url,
        "metadata": {"job_type": "batch_messages"},
    }


def batch_job(job: dict[str, Any]) -> dict[str, Any]:
    """Letta's ``BatchJob`` for one of our jobs."""
    callback = job.get("callback") or {}
    started, finished = job.get("started_at"), job.get("finished_at")
    duration = None
    if started and finished:
        delta = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
        duration = int(delta.total_seconds() * 1e9)
    return {
        "id": job["id"],
        "status": job["status"],
        "job_type": "batch",
        "created_at": job.get("created_at"),
        "updated_at": finished or started or job.get("created_at"),
        "completed_at": finished,
        "stop_reason": _stop_reason(job),
        "metadata": job.get("metadata"),
        "callback_url": job.get("callback_url"),
        "callback_sent_at": None,
        "callback_status_code": 200 if callback.get("status") == "delivered" else None,
        "callback_error": callback.get("error"),
        "agent_id": None,
        "background": None,
        "ttft_ns": None,
        "total_duration_ns": duration,
        "user_id": None,
        "created_by_id": None,
        "last_updated_by_id": None,
    }


def _stop_reason(job: dict[str, Any]) -> str | None:
    return {"completed": "end_turn", "failed": "error", "cancelled": "cancelled"}.get(job["status"])


def message_id(row_id: int) -> str:
    return f"{MESSAGE_PREFIX}{row_id}"


def parse_message_id(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    digits = value.removeprefix(MESSAGE_PREFIX)
    if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        raise InvalidInput(f"{name}: not a message id of this batch ({value[:80]!r})")
    return int(digits)


Order = Literal["asc", "desc"]


def letta_message(row: Any, model: str | None = None) -> dict[str, Any]:
    """Letta's internal ``Message`` for one of our message rows (batch messages list)."""
    content: list[dict[str, Any]] = []
    if row.reasoning:
        content.append(
            {
                "type": "reasoning",
                "is_native": True,
                "reasoning": row.reasoning,
                "signature": row.reasoning_signature,
            }
        )
    if row.content is not None:
        content.append({"type": "text", "text": row.content})
    role = {"system": "system", "summary": "summary"}.get(row.kind, row.role)
    out: dict[str, Any] = {
        "id": message_id(row.id),
        "role": role,
        "content": content,
        "agent_id": row.agent_id,
        "model": model,
        "name": row.name,
        "tool_calls": None,
        "tool_call_id": row.tool_call_id,
        "tool_returns": None,
        "batch_item_id": row.batch_item_id,
        "run_id": row.run_id,
        "step_id": None,
        "otid": None,
        "group_id": None,
        "sender_id": None,
        "is_err": None,
        "created_at": iso(row.created_at),
    }
    if row.tool_calls:
        out["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in row.tool_calls
        ]
    if row.role == "tool":
        out["tool_returns"] = [
            {
                "tool_call_id": row.tool_call_id,
                "status": "error" if row.is_error else "success",
                "func_response": row.content,
                "stdout": None,
                "stderr": None,
            }
        ]
    return out
