"""The Mistral objects the emulator serves: batch jobs (``/v1/batch/jobs``) with their
counts, output and error files, and the inline outputs when asked for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENDED = ("SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED")


@dataclass
class Job:
    id: str
    model: str
    items: list[tuple[str, dict[str, Any]]]
    input_files: list[str]
    metadata: dict[str, Any] | None
    created_at: int
    polls_left: int
    status: str = "QUEUED"
    done: int = 0
    outputs: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    cancel_asked: bool = False
    force_expire: bool = False
    output_file: str | None = None
    error_file: str | None = None
    completed_at: int | None = None
    usage: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})

    def to_dict(self, inline: bool = False) -> dict[str, Any]:
        ok = sum(1 for o in self.outputs if (o.get("response") or {}).get("status_code") == 200)
        out: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "input_files": self.input_files,
            "metadata": self.metadata,
            "endpoint": "/v1/chat/completions",
            "model": self.model,
            "output_file": self.output_file,
            "error_file": self.error_file,
            "errors": [],
            "status": self.status,
            "created_at": self.created_at,
            "total_requests": len(self.items),
            "completed_requests": len(self.outputs) + len(self.errors),
            "succeeded_requests": ok,
            "failed_requests": len(self.outputs) + len(self.errors) - ok,
            "started_at": self.created_at,
            "completed_at": self.completed_at,
        }
        if inline:
            out["outputs"] = self.outputs + self.errors
        return out
