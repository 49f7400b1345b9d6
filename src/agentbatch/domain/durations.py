"""Durations and deadlines as users write them: ``90s``, ``45m``, ``6h``, ``1d12h``, or an
ISO 8601 time with its UTC offset (``2026-12-04T06:00:00Z``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION = timedelta(days=366)


def parse_duration(text: str) -> timedelta:
    """``"6h"``, ``"1d12h"``, ``"90m"``, ``"45s"`` (or a bare number of seconds).

    Raises ValueError with the accepted forms."""
    raw = text.strip().lower()
    if not raw:
        raise ValueError("a duration must not be empty")
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        seconds = float(raw)
    else:
        compact = raw.replace(" ", "")
        parts = _PART.findall(compact)
        if not parts or "".join(n + u for n, u in parts) != compact:
            raise ValueError(f"{text!r} is not a duration: write it as 90s, 45m, 6h, 1d12h or 2w")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r}: a duration must be positive")
    value = timedelta(seconds=seconds)
    if value > MAX_DURATION:
        raise ValueError(f"{text!r}: a duration may be at most 366 days")
    return value


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; it must carry its offset (``Z`` or ``+02:00``)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise ValueError(f"{text!r}: give the time with its offset (Z or +hh:mm)")
    return value.astimezone(UTC)


def parse_deadline(text: str, now: datetime) -> datetime:
    """A deadline: a duration from ``now`` or an absolute time (which must lie ahead)."""
    raw = text.strip()
    if re.fullmatch(r"[\d.\sA-Za-z]+", raw) and not re.fullmatch(r"\d{4}.*", raw):
        return now + parse_duration(raw)
    value = parse_time(raw)
    if value <= now:
        raise ValueError(f"deadline {text!r} has already passed")
    if value - now > MAX_DURATION:
        raise ValueError(f"deadline {text!r} lies more than 366 days ahead")
    return value


def format_duration(seconds: float) -> str:
    """``3723`` -> ``"1h2m3s"`` (whole seconds)."""
    total = round(seconds)
    if total <= 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            out.append(f"{total // size}{unit}")
            total %= size
    return "".join(out)
