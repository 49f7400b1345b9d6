"""Routers per resource; ``page`` turns a limit+1 fetch into one page of a listing."""

from __future__ import annotations

from typing import Any

LIMIT_DESCRIPTION = "page size (1 to 1000)"


def page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """``items`` was fetched with ``limit + 1``: the extra one only says there is more."""
    data = items[:limit]
    return {
        "data": data,
        "has_more": len(items) > limit,
        "next_cursor": str(data[-1]["id"]) if data else None,
    }
