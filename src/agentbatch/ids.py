"""Identifiers and the clock, injectable so that tests control them."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """``prefix-<32 hex>``: fits a provider custom_id (``^[a-zA-Z0-9_-]{1,64}$``)."""
    return f"{prefix}-{os.urandom(16).hex()}"


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
