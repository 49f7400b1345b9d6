"""Each agent's context window as this worker last saw it, keyed by (run, step).

Preparing step k+1 of a run needs the window of step k plus the messages the apply of step
k appended: both are in this worker's hands, so the window is not read back from the
database. The window's token counts travel with it: the counts of its unchanged part are
kept (a list that the next prepare extends for the appended messages only). Entries are
only trusted for the exact (run, step) they were made for; a step prepared or applied by
another worker, a retry on another worker, a cancelled run, a summary step's eviction or
an evicted entry all fall back to the database."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from agentbatch.domain.messages import Message

Entry = tuple[str, int, tuple[Message, ...], list[int]]


class ContextCache:
    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, Entry] = OrderedDict()

    def get(self, agent_id: str, run_id: str, step: int) -> tuple[Message, ...] | None:
        entry = self._entries.get(agent_id)
        if entry is None or entry[0] != run_id or entry[1] != step:
            return None
        return entry[2]

    def counts(self, agent_id: str, run_id: str, step: int) -> list[int]:
        """Token counts of the cached window's first messages (a prefix; maybe empty)."""
        entry = self._entries.get(agent_id)
        if entry is None or entry[0] != run_id or entry[1] != step:
            return []
        return entry[3]

    def put(
        self,
        agent_id: str,
        run_id: str,
        step: int,
        window: Sequence[Message],
        counts: Sequence[int] = (),
    ) -> None:
        self._entries[agent_id] = (run_id, step, tuple(window), list(counts))
        self._entries.move_to_end(agent_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def advance(self, agent_id: str, run_id: str, step: int, appended: Sequence[Message]) -> None:
        """After step ``step`` of the run committed: the window for ``step + 1``."""
        entry = self._entries.get(agent_id)
        if entry is None or entry[0] != run_id or entry[1] != step:
            self.drop(agent_id)
            return
        self.put(agent_id, run_id, step + 1, (*entry[2], *appended), entry[3])

    def drop(self, agent_id: str) -> None:
        self._entries.pop(agent_id, None)
