"""Message batch state in the Anthropic emulator: progress, cancel, expiry, archive, listing.

Every item's result is computed when the batch is created; the batch then reveals them the
way the real service does. A batch needs ``polls_needed`` retrieves to end; after ``p`` of
them the first ``total * p // polls_needed`` items count as processed. Cancelling keeps the
processed items and turns the rest ``canceled`` (``canceling`` until the next retrieve);
passing ``expires_at`` (24 h) turns the rest ``expired``. Until the end only ``processing``
is non-zero in ``request_counts``. Results are archived 29 days after the end.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

OUTCOMES = ("succeeded", "errored", "canceled", "expired")
EXPIRY = timedelta(hours=24)
RETENTION = timedelta(days=29)


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


@dataclass
class Batch:
    id: str
    created_at: datetime
    items: list[tuple[str, dict[str, Any]]]  # (custom_id, the result it will end with)
    polls_needed: int = 1
    polls_seen: int = 0
    processing_status: str = "in_progress"
    ended_at: datetime | None = None
    cancel_initiated_at: datetime | None = None
    frozen_done: int | None = None  # processed items when cancel was asked
    ready_at: datetime | None = None  # not ended before this (a slow batch)
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def expires_at(self) -> datetime:
        return self.created_at + EXPIRY

    def archived_at(self, now: datetime) -> datetime | None:
        if self.ended_at is None or now < self.ended_at + RETENTION:
            return None
        return self.ended_at + RETENTION

    def done(self) -> int:
        if self.frozen_done is not None:
            return self.frozen_done
        return len(self.items) * min(self.polls_seen, self.polls_needed) // self.polls_needed

    def tick(self, now: datetime) -> None:
        """Time passes: end on expiry (the rest ``expired``)."""
        if self.processing_status != "ended" and now >= self.expires_at:
            self._end(now, "expired")

    def on_retrieve(self, now: datetime) -> None:
        """A client retrieved the batch: progress, and end when due."""
        self.tick(now)
        if self.processing_status == "ended":
            return
        self.polls_seen += 1
        if self.processing_status == "canceling":
            self._end(now, "canceled")
        elif self.polls_seen >= self.polls_needed and (
            self.ready_at is None or now >= self.ready_at
        ):
            self._end(now, "canceled")  # every item is processed: nothing left to cancel

    def cancel(self, now: datetime) -> None:
        self.tick(now)
        if self.processing_status != "in_progress":
            return
        self.frozen_done = self.done()
        self.processing_status = "canceling"
        self.cancel_initiated_at = now

    def _end(self, now: datetime, rest: str) -> None:
        done = self.done()
        self.results = [
            {"custom_id": cid, "result": result if i < done else {"type": rest}}
            for i, (cid, result) in enumerate(self.items)
        ]
        self.processing_status, self.ended_at = "ended", now

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("processing", *OUTCOMES), 0)
        if self.processing_status != "ended":
            counts["processing"] = len(self.items)
        else:
            counts.update(Counter(r["result"]["type"] for r in self.results))
        return counts

    def to_json(self, base_url: str, now: datetime) -> dict[str, Any]:
        ended = self.processing_status == "ended"
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.processing_status,
            "request_counts": self.counts(),
            "ended_at": rfc3339(self.ended_at),
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.expires_at),
            "archived_at": rfc3339(self.archived_at(now)),
            "cancel_initiated_at": rfc3339(self.cancel_initiated_at),
            "results_url": f"{base_url}/v1/messages/batches/{self.id}/results" if ended else None,
        }

    def shuffled_results(self) -> Iterator[dict[str, Any]]:
        """The result lines in a deterministic order that is not the request order."""
        order = list(range(len(self.results)))
        random.Random(self.id).shuffle(order)
        if len(order) > 1 and order == sorted(order):
            order.reverse()
        for i in order:
            yield self.results[i]


def page(
    batches: list[Batch], *, limit: int, after_id: str | None, before_id: str | None
) -> tuple[list[Batch], bool]:
    """One page of ``batches`` (newest first) and whether more lie in that direction.

    Raises KeyError for an unknown cursor.
    """
    ordered = list(reversed(batches))
    ids = [b.id for b in ordered]
    if after_id is not None:
        start = ids.index(after_id) + 1 if after_id in ids else _missing(after_id)
        chunk = ordered[start : start + limit]
        return chunk, start + limit < len(ordered)
    if before_id is not None:
        end = ids.index(before_id) if before_id in ids else _missing(before_id)
        start = max(0, end - limit)
        return ordered[start:end], start > 0
    return ordered[:limit], limit < len(ordered)


def _missing(cursor: str) -> int:
    raise KeyError(cursor)
