"""Per-phase wall time and SQL statement counts (for `agentbatch bench` and logs)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PhaseStats:
    seconds: float = 0.0
    statements: int = 0
    items: int = 0


@dataclass
class Metrics:
    phases: dict[str, PhaseStats] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str, db: Any) -> Iterator[PhaseStats]:
        stats = self.phases.setdefault(name, PhaseStats())
        start, before = time.perf_counter(), db.statements
        try:
            yield stats
        finally:
            stats.seconds += time.perf_counter() - start
            stats.statements += db.statements - before
