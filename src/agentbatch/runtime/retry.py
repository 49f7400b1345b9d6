"""Provider calls retried with exponential backoff and jitter, honouring retry-after."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from agentbatch.errors import ProviderError

log = logging.getLogger(__name__)
T = TypeVar("T")


def backoff_delay(attempt: int, base: float, rng: random.Random, cap: float = 60.0) -> float:
    """Full-jitter exponential backoff: attempt 0 -> up to ``base``, then doubling."""
    return min(cap, base * (2**attempt)) * (0.5 + rng.random() / 2)


async def with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    what: str,
    retries: int,
    base: float,
    sleep: Callable[[float], Awaitable[None]],
    rng: random.Random,
) -> T:
    for attempt in range(retries + 1):
        try:
            return await fn()
        except ProviderError as exc:
            if not exc.retryable or attempt >= retries:
                raise
            delay = (
                exc.retry_after
                if exc.retry_after is not None
                else backoff_delay(attempt, base, rng)
            )
            log.info("%s failed (%s); retry %d/%d in %.2fs", what, exc, attempt + 1, retries, delay)
            await sleep(min(delay, 300.0))
    raise AssertionError("unreachable")
