"""Recall and archival memory tools: their schemas, and the pure parts of running them
(argument parsing, result text). The reads run in ``runtime.memory_tools``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from agentbatch.domain.model_io import ToolSpec

PAGE = 5
PASSAGE_CHARS = 20_000  # the longest passage archival_memory_insert stores
SHOWN_CHARS = 500  # of each search hit, in the result the model sees

_S = {"type": "string"}
_PAGE = {"type": "integer", "description": "Result page, from 0."}


def _obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


MEMORY_SEARCH_SPECS: dict[str, ToolSpec] = {
    "conversation_search_date": ToolSpec(
        "conversation_search_date",
        "Search your own past conversation (messages) by date: messages sent between two "
        "dates, oldest first.",
        _obj(
            {
                "start_date": {**_S, "description": "From this date (YYYY-MM-DD or ISO time)."},
                "end_date": {**_S, "description": "To this date, inclusive (YYYY-MM-DD)."},
                "page": _PAGE,
            },
            ["start_date", "end_date"],
        ),
    ),
    "archival_memory_insert": ToolSpec(
        "archival_memory_insert",
        "Store a passage in your archival memory (long-term, searchable by meaning). Write "
        "it so that it makes sense on its own.",
        _obj({"content": {**_S, "description": "The passage to store."}}, ["content"]),
    ),
    "archival_memory_search": ToolSpec(
        "archival_memory_search",
        "Search your archival memory by meaning; the closest passages come first.",
        _obj(
            {"query": {**_S, "description": "What to look for."}, "page": _PAGE},
            ["query"],
        ),
    ),
}


def parse_when(value: Any, *, end: bool) -> datetime:
    """A date or ISO time; a bare date covers its whole day; naive times are UTC."""
    text = str(value).strip()
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or ISO time") from None
    if len(text) <= 10:  # a date alone
        found = datetime.combine(found.date(), time.min) + (
            timedelta(days=1) if end else timedelta()
        )
    if found.tzinfo is None:
        found = found.replace(tzinfo=UTC)
    return found


def page_of(args: Mapping[str, Any]) -> int:
    page = args.get("page") or 0
    return max(0, min(int(page), 10_000))


def message_hits(rows: Sequence[Any]) -> str:
    found = [
        {
            "role": r.role,
            "content": (r.content or "")[:SHOWN_CHARS],
            "time": r.created_at.isoformat()
            if hasattr(r.created_at, "isoformat")
            else str(r.created_at),
        }
        for r in rows
    ]
    return json.dumps(found, ensure_ascii=False)


def passage_hits(rows: Sequence[tuple[int, str, datetime, float]]) -> str:
    found = [
        {
            "content": text[:SHOWN_CHARS],
            "time": created.isoformat() if hasattr(created, "isoformat") else str(created),
            "score": round(score, 3),
        }
        for _, text, created, score in rows
    ]
    return json.dumps(found, ensure_ascii=False)
