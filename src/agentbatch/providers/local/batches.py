"""Process-wide batch state and the one worker thread that runs local batches.

A llama.cpp context is not thread-safe, so every batch of every ``LocalProvider`` in the
process goes through one daemon thread, first come first served, item after item. State is
shared too: any provider instance in the process can poll a batch another one submitted; a
new process knows no batch (``UnknownBatch``), as a provider forgets nothing it was not told.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from agentbatch.domain.model_io import ItemResult, ModelRequest, ModelResponse, Outcome
from agentbatch.errors import UnknownBatch
from agentbatch.providers.local.engine import GenerationCanceled

logger = logging.getLogger(__name__)

_STOP_TIMEOUT_S = 30.0


class GenerateFn(Protocol):
    def __call__(
        self, request: ModelRequest, *, should_stop: Callable[[], bool] | None = None
    ) -> ModelResponse: ...


@dataclass(slots=True)
class Item:
    custom_id: str
    request: ModelRequest
    started: bool = False
    result: ItemResult | None = None


@dataclass(slots=True)
class Batch:
    handle: str
    items: list[Item]
    generate: GenerateFn
    canceled: threading.Event = field(default_factory=threading.Event)

    def ended(self) -> bool:
        return all(item.result is not None for item in self.items)

    def counts(self) -> dict[str, int]:
        out = {"processing": 0, **{o.value: 0 for o in Outcome}}
        for item in self.items:
            out["processing" if item.result is None else item.result.outcome.value] += 1
        return out


def _canceled(item: Item) -> ItemResult:
    return ItemResult(item.custom_id, Outcome.CANCELED, error="batch canceled")


class Registry:
    """Every local batch of this process and the worker thread that runs them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._batches: dict[str, Batch] = {}
        self._queue: queue.Queue[Batch | None] = queue.Queue()  # the running thread's
        self._thread: threading.Thread | None = None
        self._users = 0

    # -- users (provider instances) --------------------------------------------------
    def acquire(self) -> None:
        with self.lock:
            self._users += 1

    def release(self) -> None:
        """One provider closed; the last one cancels what is left and stops the thread."""
        with self.lock:
            self._users -= 1
            if self._users > 0:
                return
            thread, jobs = self._thread, self._queue
            self._thread = None
            for batch in self._batches.values():
                self._cancel_locked(batch)
        if thread is not None:
            jobs.put(None)
            thread.join(_STOP_TIMEOUT_S)

    # -- batches ---------------------------------------------------------------------
    def add(self, batch: Batch) -> None:
        with self.lock:
            self._batches[batch.handle] = batch
            if self._thread is None or not self._thread.is_alive():
                self._queue = queue.Queue()
                self._thread = threading.Thread(
                    target=self._work, args=(self._queue,), name="agentbatch-local", daemon=True
                )
                self._thread.start()
            self._queue.put(batch)

    def get(self, handle: str) -> Batch:
        with self.lock:
            batch = self._batches.get(handle)
        if batch is None:
            raise UnknownBatch(f"local batch {handle!r} is unknown (submitted in another process?)")
        return batch

    def cancel(self, handle: str) -> None:
        batch = self.get(handle)
        with self.lock:
            self._cancel_locked(batch)

    def forget(self, handle: str) -> None:
        with self.lock:
            batch = self._batches.pop(handle, None)
            if batch is not None:
                self._cancel_locked(batch)

    def _cancel_locked(self, batch: Batch) -> None:
        """Unstarted items end canceled now; the running one stops at its next token."""
        batch.canceled.set()
        for item in batch.items:
            if not item.started and item.result is None:
                item.result = _canceled(item)

    # -- the worker thread -----------------------------------------------------------
    def _work(self, jobs: queue.Queue[Batch | None]) -> None:
        while (batch := jobs.get()) is not None:
            started = time.monotonic()
            for item in batch.items:
                self._run_item(batch, item)
            logger.info(
                "local batch ended",
                extra={
                    "handle": batch.handle,
                    "items": len(batch.items),
                    "seconds": round(time.monotonic() - started, 2),
                },
            )

    def _run_item(self, batch: Batch, item: Item) -> None:
        with self.lock:
            if item.result is not None or batch.canceled.is_set():
                if item.result is None:
                    item.result = _canceled(item)
                return
            item.started = True
        try:
            response = batch.generate(item.request, should_stop=batch.canceled.is_set)
            result = ItemResult(item.custom_id, Outcome.SUCCEEDED, response=response)
        except GenerationCanceled:
            result = _canceled(item)
        except Exception as exc:  # one item's failure never fails its batch
            logger.warning(
                "local item errored", extra={"custom_id": item.custom_id, "error": str(exc)}
            )
            result = ItemResult(
                item.custom_id, Outcome.ERRORED, error=f"{type(exc).__name__}: {exc}"
            )
        with self.lock:
            item.result = result


REGISTRY = Registry()
