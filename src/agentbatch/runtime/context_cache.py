"""Each agent's context window as this worker last saw it, keyed by (run, step).

Preparing step k+1 of a run needs the window of step k plus the messages the apply of step
k appended: both are in this worker's hands, so the window is not read back from the
database. Entries are only trusted for the exact (run, step) they were made for; a step
prepared or applied by another worker, a retry on another worker, a cancelled run or an
evicted entry all fall back to the database."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from agentbatch.domain.messages import Message

Entry = tuple[str, int, tuple[Message, ...]]


class ContextCache:
    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, Entry] = OrderedDict()

    def get(self, agent_id: str, run_id: str, step: int) -> tuple[Message, ...] | None:
        entry = self._entries.get(agent_id)
        if entry is None or entry[0] != run_id or entry[1] != step:
            return None
        return entry[2]

    def put(self, agent_id: str, run_id: str, step: int, window: Sequence[Message]) -> None:
        self._entries[agent_id] = (run_id, step, tuple(window))
        self._entries.move_to_end(agent_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def advance(self, agent_id: str, run_id: str, step: int, appended: Sequence[Message]) -> None:
        """After step ``step`` of the run committed: the window for ``step + 1``."""
        window = self.get(agent_id, run_id, step)
        if window is None:
            self.drop(agent_id)
            return
        self.put(agent_id, run_id, step + 1, (*window, *appended))

    def drop(self, agent_id: str) -> None:
        self._entries.pop(agent_id, None)
