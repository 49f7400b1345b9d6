"""Two worker processes on PostgreSQL, killed (-9), paused past their lease (SIGSTOP, then
SIGCONT) and with jobs cancelled, while 2,000 agents take 3 steps; every agent's exact
history and memory is checked. ``make chaos``; ``CHAOS_SEED`` / ``CHAOS_AGENTS`` vary it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos.db import PG_BASE, Reader
from tests.chaos.harness import ChaosConfig, run_chaos

pytestmark = pytest.mark.chaos


async def _reachable() -> str | None:
    try:
        reader = await Reader.open(PG_BASE)
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_BASE}: {exc}"
    await reader.close()
    return None


async def test_chaos_kills_pauses_and_cancels_lose_and_duplicate_nothing(
    tmp_path: Path,
) -> None:
    reason = await _reachable()
    if reason is not None:
        pytest.skip(reason)
    cfg = ChaosConfig(
        agents=int(os.environ.get("CHAOS_AGENTS", "2000")),
        seed=int(os.environ.get("CHAOS_SEED", "1")),
    )
    report = await run_chaos(cfg, tmp_path, log=lambda line: print(line, flush=True))
    print(report.table())
    (tmp_path / "chaos-report.json").write_text(report.to_json())
    assert report.ok, f"chaos found failures (seed {cfg.seed}):\n{report.table()}"
