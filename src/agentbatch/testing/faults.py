"""Fault injection shared by the emulators.

A ``FaultPlan`` is mutable at run time (tests change it between calls) and thread-safe
enough for tests: every decision takes the lock.

- ``http``: a list of ``HttpFault``; each matching request (method + path substring)
  consumes one of its ``times`` and gets ``status`` (429 with ``retry_after`` seconds,
  500, ...) instead of the real answer.
- ``delay_s``: every request sleeps this long first (slow responses / client timeouts).
- ``polls_in_progress``: a batch reports in-progress for this many retrieves before ending.
- ``item_outcomes``: custom_id -> ``errored | expired | canceled`` forced for that item.
- ``outcome_for_content``: substring of the request's last user/tool text -> outcome, for
  tests that do not know custom_ids in advance; each entry has ``times`` (how many items
  it hits; -1 for every one).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class HttpFault:
    status: int
    path_contains: str = ""
    method: str = ""
    times: int = 1
    retry_after: float | None = None
    message: str = "injected fault"


@dataclass
class ContentFault:
    contains: str
    outcome: str
    times: int = 1


@dataclass
class FaultPlan:
    http: list[HttpFault] = field(default_factory=list)
    delay_s: float = 0.0
    polls_in_progress: int = 0
    item_outcomes: dict[str, str] = field(default_factory=dict)
    content_outcomes: list[ContentFault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def replace(self, data: dict[str, Any]) -> None:
        """Replace the settings in place from their JSON form (``PUT /_emulator/faults``)."""
        with self._lock:
            self.http = [HttpFault(**f) for f in data.get("http", [])]
            self.delay_s = float(data.get("delay_s", 0.0))
            self.polls_in_progress = int(data.get("polls_in_progress", 0))
            self.item_outcomes = dict(data.get("item_outcomes", {}))
            self.content_outcomes = [ContentFault(**f) for f in data.get("content_outcomes", [])]

    def take_http_fault(self, method: str, path: str) -> HttpFault | None:
        with self._lock:
            for fault in self.http:
                if fault.times == 0:
                    continue
                if fault.method and fault.method.upper() != method.upper():
                    continue
                if fault.path_contains and fault.path_contains not in path:
                    continue
                if fault.times > 0:
                    fault.times -= 1
                return fault
        return None

    def take_item_outcome(self, custom_id: str, text: str) -> str | None:
        with self._lock:
            forced = self.item_outcomes.get(custom_id)
            if forced:
                return forced
            for fault in self.content_outcomes:
                if fault.times != 0 and fault.contains in text:
                    if fault.times > 0:
                        fault.times -= 1
                    return fault.outcome
        return None
