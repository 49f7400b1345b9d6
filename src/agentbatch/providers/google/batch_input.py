"""What goes to Gemini for one batch: its display name (how orphans are found), the
requests inlined as the SDK's ``InlinedRequest`` or written to a JSONL file to upload."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from google.genai import types

from agentbatch.providers.base import BatchTag


def display_name(tag: BatchTag) -> str:
    return f"agentbatch job {tag.job_id} batch {tag.batch_id}"


def inline_request(entry: Mapping[str, Any]) -> types.InlinedRequest:
    """One encoded entry as the SDK's inlined request (generation settings, system
    instruction and tools go into ``config``; the SDK puts them back in place)."""
    request = dict(entry["request"])
    config: dict[str, Any] = dict(request.pop("generationConfig", None) or {})
    contents = request.pop("contents")
    config.update(request)  # systemInstruction, tools, toolConfig, safetySettings, ...
    return types.InlinedRequest.model_validate(
        {"contents": contents, "metadata": {"key": str(entry["key"])}, "config": config}
    )


def write_jsonl(entries: Sequence[Mapping[str, Any]]) -> Path:
    """The entries as a temporary JSONL file (the caller deletes it)."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8", delete=False) as fh:
        for entry in entries:
            fh.write(json.dumps(entry, separators=(",", ":"), ensure_ascii=False))
            fh.write("\n")
    return Path(fh.name)
