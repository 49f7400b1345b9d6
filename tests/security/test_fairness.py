"""Fairness: one organisation's slow tools cannot take every sandbox slot."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from tests.security.conftest import ORG_A, ORG_B, World, tool_source

SLOW = tool_source("slow", "time.sleep(600)\nreturn 'never'")
QUICK = tool_source("quick", "return 'quick'")


def row(org: str, name: str, source: str, **settings: object) -> SimpleNamespace:
    return SimpleNamespace(org_id=org, name=name, source=source, settings=settings)


@pytest.mark.security_settings(tool_org_concurrency=1)
async def test_slow_tools_of_one_organisation_leave_slots_to_the_others(world: World) -> None:
    executor = world.app.tool_executor  # a pool of 4 slots, at most 1 per organisation
    slow = [
        asyncio.create_task(executor.run_custom(row(ORG_A, "slow", SLOW, timeout_s=1), "a", {}, {}))
        for _ in range(4)
    ]
    await asyncio.sleep(0)  # A's calls queue first
    quick = asyncio.create_task(executor.run_custom(row(ORG_B, "quick", QUICK), "b", {}, {}))

    done, _ = await asyncio.wait([quick, *slow], return_when=asyncio.FIRST_COMPLETED)

    assert done == {quick}  # B's call did not wait for A's
    assert quick.result().ok and quick.result().output == "quick"
    results = await asyncio.gather(*slow)
    assert [r.output for r in results] == ["tool timed out after 1 s"] * 4
