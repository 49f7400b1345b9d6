"""Settings and per-worker memory of deadlines, live calls and budgets.

``LimitsSettings`` holds the operator's ``AGENTBATCH_*`` settings for them; ``Limits`` (the
context's ``limits``) adds what a worker remembers: each job's deadline and budget (fixed
at creation) and the measured turnaround of each provider, model and kind (batch, live),
re-read from the database once a minute."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


@dataclass(frozen=True)
class LimitsSettings:
    """Deadline and budget settings; each field has an ``AGENTBATCH_`` variable."""

    # a provider/model's batch turnaround is this percentile of its recent batches ...
    turnaround_percentile: float = 90.0  # AGENTBATCH_TURNAROUND_PERCENTILE
    turnaround_samples: int = 50  # AGENTBATCH_TURNAROUND_SAMPLES: recent batches read
    turnaround_min_samples: int = 3  # AGENTBATCH_TURNAROUND_MIN_SAMPLES: fewer: default
    # ... else these (seconds)
    batch_turnaround_s: float = 3600.0  # AGENTBATCH_BATCH_TURNAROUND
    live_turnaround_s: float = 60.0  # AGENTBATCH_LIVE_TURNAROUND
    deadline_margin_s: float = 60.0  # AGENTBATCH_DEADLINE_MARGIN: kept in reserve
    live_concurrency: int = 16  # AGENTBATCH_LIVE_CONCURRENCY: live calls in flight
    # the first step's output is guessed at this many tokens (or max_tokens, if lower)
    budget_output_tokens: int = 256  # AGENTBATCH_BUDGET_OUTPUT_TOKENS

    @classmethod
    def from_env(cls) -> LimitsSettings:
        d = cls()
        return cls(
            turnaround_percentile=_float(
                "AGENTBATCH_TURNAROUND_PERCENTILE", d.turnaround_percentile
            ),
            turnaround_samples=_int("AGENTBATCH_TURNAROUND_SAMPLES", d.turnaround_samples),
            turnaround_min_samples=_int(
                "AGENTBATCH_TURNAROUND_MIN_SAMPLES", d.turnaround_min_samples
            ),
            batch_turnaround_s=_float("AGENTBATCH_BATCH_TURNAROUND", d.batch_turnaround_s),
            live_turnaround_s=_float("AGENTBATCH_LIVE_TURNAROUND", d.live_turnaround_s),
            deadline_margin_s=_float("AGENTBATCH_DEADLINE_MARGIN", d.deadline_margin_s),
            live_concurrency=_int("AGENTBATCH_LIVE_CONCURRENCY", d.live_concurrency),
            budget_output_tokens=_int("AGENTBATCH_BUDGET_OUTPUT_TOKENS", d.budget_output_tokens),
        )


@dataclass
class Limits:
    settings: LimitsSettings = field(default_factory=LimitsSettings.from_env)
    jobs: dict[str, Any] = field(default_factory=dict)  # job id -> JobLimits
    turnaround: dict[tuple[str, str, str], tuple[datetime, float]] = field(default_factory=dict)
    # (provider name, job) pairs already warned about (no live API)
    warned: set[tuple[str, str]] = field(default_factory=set)
    price_table: Any = None  # agentbatch.pricing.PriceTable, loaded on first use
    last_deadline_pass: datetime | None = None

    def cached_turnaround(self, key: tuple[str, str, str], now: datetime) -> float | None:
        found = self.turnaround.get(key)
        if found is None or (now - found[0]).total_seconds() > 60:
            return None
        return found[1]
