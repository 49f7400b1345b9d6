"""Fairness: one organisation's slow tools cannot take every sandbox slot."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from types import SimpleNamespace
from typing import Any

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


async def _job_b(world: World) -> str:
    app = world.app
    agents = [
        (
            await app.agents.create_agent(
                ORG_B,
                {
                    "name": f"b{i}",
                    "model": "scripted/x",
                    "blocks": [{"label": "human", "value": ""}],
                    "tools": ["send_message", "core_memory_append"],
                },
            )
        )["id"]
        for i in range(4)
    ]
    script = [
        {
            "tool": "core_memory_append",
            "args": {"label": "human", "content": "x"},
            "heartbeat": True,
        },
        {"tool": "send_message", "args": {"message": "done"}, "heartbeat": False},
    ]
    job = await app.jobs.create_job(
        ORG_B,
        {
            "requests": [{"agent_id": a, "messages": "hi"} for a in agents],
            "options": {"script": script},
        },
    )
    return str(job["id"])


async def _until(app: Any, job_id: str, status: str, org: str) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(3000):
        if (await app.jobs.get_job(org, job_id))["status"] == status:
            return loop.time() - start
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never became {status}")


@pytest.mark.security_settings(tool_org_concurrency=2)
async def test_a_job_without_tools_is_not_held_up_by_another_orgs_sleeping_tools(
    world: World,
) -> None:
    """Organisation A's tools sleep until their timeout; organisation B's job (built-in
    tools only) finishes meanwhile: the tools run outside the shared apply pass."""
    app = world.app
    worker = app.worker()
    running = asyncio.create_task(worker.run())
    try:
        alone = await _until(app, await _job_b(world), "completed", ORG_B)
        name = await world.tool(ORG_A, SLEEPY, timeout_s=6)
        a_agents = [
            (
                await app.agents.create_agent(
                    ORG_A, {"name": f"a{i}", "model": "scripted/x", "tools": [name]}
                )
            )["id"]
            for i in range(2)
        ]
        started = asyncio.Event()

        async def tools_started(**_: Any) -> None:
            started.set()

        worker.ctx.hooks.on("tools", tools_started)
        a_job = await app.jobs.create_job(
            ORG_A,
            {
                "requests": [{"agent_id": a, "messages": "go"} for a in a_agents],
                "max_steps": 1,
                "options": {"script": [{"tool": name, "args": {}, "heartbeat": False}]},
            },
        )
        await asyncio.wait_for(started.wait(), timeout=60)
        beside = await _until(app, await _job_b(world), "completed", ORG_B)
        a_runs = await app.jobs.job_runs(ORG_A, a_job["id"])
        assert {r["status"] for r in a_runs} == {"waiting_tools"}  # A's tools still sleeping
        print(f"\norganisation B's job: {alone:.2f} s alone, {beside:.2f} s beside A's tools")
        assert await _until(app, a_job["id"], "completed", ORG_A) >= 0
        a_runs = await app.jobs.job_runs(ORG_A, a_job["id"])
        assert all(r["status"] == "completed" for r in a_runs)
    finally:
        worker.stop()
        await running


SLEEPY = tool_source("sleepy", "time.sleep(600)\nreturn 'never'")


async def _agents(world: World, org: str, tool: str, count: int) -> list[str]:
    return [
        (
            await world.app.agents.create_agent(
                org, {"name": f"{org}-{tool}-{i}", "model": "scripted/x", "tools": [tool]}
            )
        )["id"]
        for i in range(count)
    ]


async def _tool_job(world: World, org: str, agents: list[str], tool: str) -> str:
    job = await world.app.jobs.create_job(
        org,
        {
            "requests": [{"agent_id": a, "messages": "go"} for a in agents],
            "max_steps": 1,
            "options": {"script": [{"tool": tool, "args": {}, "heartbeat": False}]},
        },
    )
    return str(job["id"])


async def _statuses(world: World, org: str, job_id: str) -> list[str]:
    return [r["status"] for r in await world.app.jobs.job_runs(org, job_id)]


@pytest.mark.security_settings(tool_org_concurrency=1)
async def test_custom_tool_of_another_org_is_claimed_beside_many_sleeping_calls(
    world: World,
) -> None:
    """Organisation A has more tool steps waiting than the worker takes at once, each
    calling a tool that sleeps until its timeout; organisation B's custom-tool call,
    queued after all of them, still runs and finishes while A's first call sleeps: the
    tool pass claims waiting steps per organisation, not oldest first."""
    app = world.app
    # the pass takes 2 x tool_concurrency = 4 steps at once; A has 8 waiting
    worker = app.worker(settings=dataclasses.replace(app.settings, tool_concurrency=2))
    started = asyncio.Event()

    async def tools_started(**_: Any) -> None:
        started.set()

    worker.ctx.hooks.on("tools", tools_started)
    sleepy = await world.tool(ORG_A, SLEEPY, timeout_s=30)
    quick = await world.tool(ORG_B, QUICK)
    a_job = await _tool_job(world, ORG_A, await _agents(world, ORG_A, sleepy, 8), sleepy)
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(started.wait(), timeout=60)
        for _ in range(500):  # every step of A waits for its tool
            if set(await _statuses(world, ORG_A, a_job)) == {"waiting_tools"}:
                break
            await asyncio.sleep(0.02)
        b_job = await _tool_job(world, ORG_B, await _agents(world, ORG_B, quick, 1), quick)
        for _ in range(6000):  # until B's job ends or one of A's sleeping calls does
            b_status = (await app.jobs.get_job(ORG_B, b_job))["status"]
            a_statuses = await _statuses(world, ORG_A, a_job)
            if b_status == "completed" or set(a_statuses) != {"waiting_tools"}:
                break
            await asyncio.sleep(0.02)

        assert b_status == "completed"
        assert set(a_statuses) == {"waiting_tools"}  # B did not wait for any of A's calls
        messages = await app.jobs.job_messages(ORG_B, b_job)
        assert json.loads(messages[-1]["content"]) == {"status": "OK", "message": "quick"}
        await app.jobs.cancel_job(ORG_A, a_job)
    finally:
        worker.stop()
        await running
