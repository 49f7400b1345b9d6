"""The Gemini objects the emulator serves: stored files, batch jobs as long-running
operations (``batchStats``, inline or file output), RFC 3339 times and ``google.rpc.Status``
error bodies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ENDED = (
    "BATCH_STATE_SUCCEEDED",
    "BATCH_STATE_FAILED",
    "BATCH_STATE_CANCELLED",
    "BATCH_STATE_EXPIRED",
)
BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"


def rfc3339(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def status_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "status": status}


@dataclass
class StoredFile:
    name: str
    display_name: str
    mime_type: str
    content: bytes
    created: datetime
    source: str = "UPLOADED"

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "displayName": self.display_name,
            "mimeType": self.mime_type,
            "sizeBytes": str(len(self.content)),
            "createTime": rfc3339(self.created),
            "state": "ACTIVE",
            "source": self.source,
        }
        if self.source == "GENERATED":
            out["downloadUri"] = f"{self.name}:download"
        return out


@dataclass
class Job:
    name: str
    model: str
    display_name: str
    created: datetime
    items: list[tuple[str, dict[str, Any], dict[str, Any] | None]]  # key, request, metadata
    inline: bool
    polls_left: int = 0
    state: str = "BATCH_STATE_PENDING"
    done: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    cancel_asked: bool = False
    force_expire: bool = False
    ended: datetime | None = None
    responses_file: str | None = None
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt": 0, "cached": 0, "candidates": 0, "thoughts": 0}
    )

    def to_operation(self) -> dict[str, Any]:
        ok = sum(1 for r in self.results if "response" in r)
        stats = {
            "requestCount": str(len(self.items)),
            "successfulRequestCount": str(ok),
            "failedRequestCount": str(len(self.results) - ok),
            "pendingRequestCount": str(len(self.items) - len(self.results)),
        }
        metadata: dict[str, Any] = {
            "@type": BATCH_TYPE,
            "model": self.model,
            "displayName": self.display_name,
            "createTime": rfc3339(self.created),
            "updateTime": rfc3339(self.ended or self.created),
            "batchStats": stats,
            "state": self.state,
            "name": self.name,
        }
        if self.ended is not None:
            metadata["endTime"] = rfc3339(self.ended)
            if self.inline:
                metadata["output"] = {"inlinedResponses": {"inlinedResponses": self.results}}
            elif self.responses_file:
                metadata["output"] = {"responsesFile": self.responses_file}
        return {"name": self.name, "metadata": metadata, "done": self.ended is not None}
