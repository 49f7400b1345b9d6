"""Identifiers and the clock, injectable so that tests control them."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


# row ids need uniqueness, not secrecy: a process-seeded generator avoids a syscall per id
# (API keys are minted with ``secrets`` in agentbatch.keys)
_random = random.Random(os.urandom(32))


def new_id(prefix: str) -> str:
    """``prefix-<13 hex of microseconds><20 random hex>``: time-ordered, so new rows land at
    the end of their indexes instead of at random pages, and it fits a provider custom_id
    (``^[a-zA-Z0-9_-]{1,64}$``)."""
    return f"{prefix}-{time.time_ns() // 1000:013x}{_random.getrandbits(80):020x}"


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    """An ISO 8601 timestamp with its UTC offset (None stays None)."""
    value = as_utc(value)
    return value.isoformat() if value is not None else None
