"""The OpenAI objects the emulator serves: ids, error bodies, files, batches, completions.

Shapes follow the API reference and the ``openai`` SDK's types (``FileObject``,
``FileDeleted``, ``Batch``, ``BatchError``, ``ChatCompletion``, ``CompletionUsage``).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from agentbatch.domain.model_io import ModelResponse

_ALNUM = string.ascii_letters + string.digits

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    429: "requests",
    500: "server_error",
    503: "server_error",
}


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}`` as the API returns it."""
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
        }


@dataclass
class InputItem:
    """One line of a validated input file."""

    line: int
    custom_id: str
    body: dict[str, Any]


@dataclass
class Batch:
    id: str
    input_file_id: str
    endpoint: str
    metadata: dict[str, str] | None
    created_at: int
    items: list[InputItem] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    status: str = "validating"
    model: str | None = None
    polls_left: int = 0
    force_expire: bool = False
    done: int = 0  # items[:done] have been processed
    output_lines: list[dict[str, Any]] = field(default_factory=list)
    error_lines: list[dict[str, Any]] = field(default_factory=list)
    completed: int = 0
    failed: int = 0
    usage: dict[str, int] = field(default_factory=lambda: {"input": 0, "cached": 0, "output": 0})
    output_file_id: str | None = None
    error_file_id: str | None = None
    times: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        ended = self.status in ("completed", "failed", "expired", "cancelled")
        out: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "expires_at": self.created_at + 24 * 3600,
            "request_counts": {
                "total": len(self.items),
                "completed": self.completed,
                "failed": self.failed,
            },
            "metadata": self.metadata,
            "usage": self._usage() if ended and self.status != "failed" else None,
        }
        for name in ("in_progress", "finalizing", "completed", "failed", "expired"):
            out[f"{name}_at"] = self.times.get(name)
        out["cancelling_at"] = self.times.get("cancelling")
        out["cancelled_at"] = self.times.get("cancelled")
        return out

    def _usage(self) -> dict[str, Any]:
        prompt = self.usage["input"]
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": self.usage["cached"]},
            "output_tokens": self.usage["output"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + self.usage["output"],
        }


def completion_body(
    response: ModelResponse, *, model: str, created: int, prompt_tokens: int, cached_tokens: int
) -> dict[str, Any]:
    """A ``chat.completion`` object for a scripted answer."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": response.content,
        "refusal": None,
        "annotations": [],
    }
    if response.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in response.tool_calls
        ]
    completion = response.usage.output_tokens
    return {
        "id": new_id("chatcmpl-", 29),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if response.tool_calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_emulator",
    }


def output_line(custom_id: str, status_code: int, body: dict[str, Any]) -> dict[str, Any]:
    """An output/error-file line for a request that got an HTTP answer."""
    return {
        "id": new_id("batch_req_", 32),
        "custom_id": custom_id,
        "response": {
            "status_code": status_code,
            "request_id": secrets.token_hex(16),
            "body": body,
        },
        "error": None,
    }


def unanswered_line(custom_id: str, code: str) -> dict[str, Any]:
    """An error-file line for a request that never ran (``batch_expired``/``batch_cancelled``)."""
    message = {
        "batch_expired": "This request could not be executed before the completion window expired.",
        "batch_cancelled": "This request was not executed because the batch was cancelled.",
    }.get(code, code)
    return {
        "id": new_id("batch_req_", 32),
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }
