"""When a running job will end, judged from the organisation's provider turnaround
history (pure: the caller reads the numbers)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

ACTIVE = ("queued", "waiting_model", "waiting_tools")


@dataclass(frozen=True)
class Eta:
    seconds: float | None  # None: cannot be judged yet
    turnaround_s: float | None  # the median turnaround used
    samples: int
    rounds_left: int
    note: str


def median_turnaround(history: Sequence[tuple[datetime, datetime]]) -> float | None:
    spans = [(end - start).total_seconds() for start, end in history if end >= start]
    return statistics.median(spans) if spans else None


def estimate(
    *,
    now: datetime,
    counts: dict[str, int],
    steps: dict[str, int],
    max_steps: int,
    in_flight: Sequence[datetime],
    history: Sequence[tuple[datetime, datetime]],
) -> Eta:
    """``counts`` and ``steps`` (steps taken, summed) by run status; ``in_flight``: when
    the job's open provider batches were submitted; ``history``: (submitted, ended) of
    recent provider batches.

    Each round of the job costs one provider turnaround: the round in flight ends one
    median turnaround after its batch was sent, and each further round takes another.
    Runs are expected to take as many steps as the finished ones took on average (or
    ``max_steps`` when none has finished)."""
    active = sum(counts.get(s, 0) for s in ACTIVE)
    turnaround = median_turnaround(history)
    if active == 0:
        return Eta(0.0, turnaround, len(history), 0, "no run left to advance")
    if turnaround is None:
        return Eta(None, None, 0, 0, "no provider batch of this organisation has ended yet")
    done = counts.get("completed", 0)
    per_run = steps.get("completed", 0) / done if done else float(max_steps)
    at = sum(steps.get(s, 0) for s in ACTIVE) / active
    rounds = max(1, min(max_steps, math.ceil(per_run - at)))
    first = turnaround
    if in_flight:
        age = (now - min(in_flight)).total_seconds()
        first = max(0.0, turnaround - age)
    seconds = first + (rounds - 1) * turnaround
    return Eta(seconds, turnaround, len(history), rounds, "")


def human(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600:02d}h"
