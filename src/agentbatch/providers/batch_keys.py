"""The custom ids of the batches this process submitted, for providers whose ended batch
does not list the requests it never ran (a Gemini job that expired or was cancelled, a
Mistral job that timed out): those ids are reported ``expired`` / ``canceled`` instead of
being left without a result.

Only a hint: a worker that did not submit the batch (another process, a restart) does not
have the ids, and the runtime then settles the items without a result as errored, which
is retried the same way. Bounded: the oldest entries go first past ``limit`` batches.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence


class BatchKeys:
    def __init__(self, limit: int = 256) -> None:
        self._limit = limit
        self._keys: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def remember(self, handle: str, keys: Sequence[str]) -> None:
        self._keys[handle] = tuple(keys)
        self._keys.move_to_end(handle)
        while len(self._keys) > self._limit:
            self._keys.popitem(last=False)

    def get(self, handle: str) -> tuple[str, ...]:
        return self._keys.get(handle, ())

    def forget(self, handle: str) -> None:
        self._keys.pop(handle, None)
