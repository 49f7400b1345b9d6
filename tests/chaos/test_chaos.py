"""Two worker processes on PostgreSQL, killed (-9), paused past their lease (SIGSTOP, then
SIGCONT) and with jobs cancelled, while 2,000 agents take 3 steps; every agent's exact
history and memory is checked. ``make chaos`` runs seeds 1, 2 and 3; ``CHAOS_SEEDS="7 8"``
and ``CHAOS_AGENTS`` vary it (``python -m tests.chaos.run --help`` for every knob)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos.db import PG_BASE, Reader
from tests.chaos.harness import ChaosConfig, run_chaos

pytestmark = pytest.mark.chaos

SEEDS = [int(s) for s in os.environ.get("CHAOS_SEEDS", "1 2 3").replace(",", " ").split()]


async def _reachable() -> str | None:
    try:
        reader = await Reader.open(PG_BASE)
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_BASE}: {exc}"
    await reader.close()
    return None


@pytest.mark.parametrize("seed", SEEDS)
async def test_chaos_kills_pauses_and_cancels_lose_and_duplicate_nothing(
    seed: int, tmp_path: Path
) -> None:
    reason = await _reachable()
    if reason is not None:
        pytest.skip(reason)
    cfg = ChaosConfig(agents=int(os.environ.get("CHAOS_AGENTS", "2000")), seed=seed)
    report = await run_chaos(cfg, tmp_path, log=lambda line: print(line, flush=True))
    print(report.table())
    (tmp_path / "chaos-report.json").write_text(report.to_json())
    if not report.ok:
        pytest.fail(f"chaos found failures (seed {seed}), see the table above", pytrace=False)
