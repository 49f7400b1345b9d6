"""Provider batches within the provider's limits: request count and payload bytes
(measured on the encoded provider payload, as one JSON line per request)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

UNLIMITED_BYTES = 1 << 40


def payload_size(entry: dict[str, Any]) -> int:
    """Bytes the entry adds to the provider payload (one JSON line)."""
    return len(json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode()) + 1


@dataclass(slots=True)
class Prepared:
    """One request ready to send: the run (and the fence of its claim), its new item, the
    provider entry and its size, and the input messages the record writes."""

    run_id: str
    run_fence: int
    item_id: str
    step: int
    attempt: int
    entry: dict[str, Any]
    size: int
    new_messages: list[dict[str, Any]]
    kind: str | None = None  # "summary": a summary step (see runtime.summaries)
    context: dict[str, Any] | None = None  # tokens counted, window, summary plan
    est_cost: float | None = None  # set by the budget check (USD)


@dataclass(slots=True)
class BatchSplitter:
    """Fills provider batches in order, each within both limits (a single oversized
    request goes alone and the provider reports it)."""

    max_requests: int
    max_bytes: int
    count: int = 0
    size: int = 0

    def starts_new_batch(self, item_size: int) -> bool:
        """Account for the next request; True when it must open a new batch."""
        full = self.count > 0 and (
            self.count >= self.max_requests or self.size + item_size > self.max_bytes
        )
        if full:
            self.count, self.size = 0, 0
        self.count += 1
        self.size += item_size
        return full


def split_by_limits(
    items: list[Prepared], max_requests: int, max_bytes: int
) -> list[list[Prepared]]:
    """Consecutive groups within both limits, as the sender forms its batches."""
    splitter = BatchSplitter(max_requests, max_bytes)
    groups: list[list[Prepared]] = []
    for item in items:
        if splitter.starts_new_batch(item.size) or not groups:
            groups.append([])
        groups[-1].append(item)
    return groups
