"""The chaos run: agents and jobs on a fresh PostgreSQL database, two worker processes, a
seeded loop of kills, pauses and cancels, a drain, then the checks (see ``checks``).

Timing is random but seeded: the same seed makes the same choices, the moments they land on
depend on the machine. Pauses and cancels are partly *targeted*: the loop watches the
database for runs claimed but not yet recorded and for batches in submission, and pauses
that worker (past its lease) or cancels that job right then; the rest fall at random.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agentbatch.app import AgentBatch
from agentbatch.errors import Conflict
from agentbatch.ids import utcnow
from agentbatch.providers.registry import ProviderRegistry
from agentbatch.providers.scripted import ScriptedProvider
from tests.chaos import checks
from tests.chaos.db import CancelSnapshot, Reader, create_database, drop_database
from tests.chaos.expect import TERMINAL_JOB, script
from tests.chaos.workers import WorkerPool, pid_of_owner, worker_env


@dataclass(frozen=True)
class ChaosConfig:
    agents: int = 2000
    steps: int = 3
    jobs: int = 8
    cancel_jobs: int = 3  # how many of the jobs get cancelled at some moment
    seed: int = 1
    lease_s: float = 3.0
    stagger_s: float = 8.0  # between job creations, so that chaos meets every phase
    batch_requests: int = 25  # AGENTBATCH_MAX_BATCH_REQUESTS: many claims, many batches
    mean_event_s: float = 1.5  # mean gap between random kills / pauses
    kill_share: float = 0.4  # of random events; the rest are pauses
    targeted_pause_p: float = 0.5  # per racy window seen (at most one paused worker)
    targeted_cancel_p: float = 0.3  # per poll that sees a racy window of a job to cancel
    max_attempts: int = 20  # kills cost attempts; none of these runs may fail for it
    polls: int = 1  # the scripted batch stays in progress for this many polls
    chaos_limit_s: float = 420.0  # chaos ends here even if jobs are not finished
    drain_timeout_s: float = 180.0
    quiet_s: float = 20.0  # no progress for this long: the rest is stuck
    keep_db: bool = False


@dataclass
class ChaosCounts:
    kills: int = 0
    targeted_kills: int = 0
    pauses: int = 0
    targeted_pauses: int = 0
    cancels: int = 0
    targeted_cancels: int = 0
    cancels_too_late: int = 0  # the job had ended already: not counted as a cancel
    worker_exits: int = 0  # workers that died without our kill -9
    cancel_errors: int = 0  # cancels that raised (retried, as a user would)


@dataclass
class Run:
    cfg: ChaosConfig
    app: AgentBatch
    reader: Reader
    pool: WorkerPool
    rng: random.Random
    counts: ChaosCounts = field(default_factory=ChaosCounts)
    jobs: list[str] = field(default_factory=list)
    # job id -> (progress from which a racy window may trigger its cancel, progress at which
    # it is cancelled anyway); progress is the share of the job's steps applied
    cancel_plan: dict[str, tuple[float, float]] = field(default_factory=dict)
    cancel_tried: set[str] = field(default_factory=set)
    # job id -> (when cancel_job returned, what the job held right after)
    cancelled: dict[str, tuple[datetime, CancelSnapshot]] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    next_targeted: float = 0.0


async def run_chaos(cfg: ChaosConfig, workdir: Path, log: Any = print) -> checks.Report:
    started = time.monotonic()
    url = await create_database()
    home = workdir / "home"
    (home / "scripted").mkdir(parents=True, exist_ok=True)
    registry = ProviderRegistry({"scripted": ScriptedProvider(home / "scripted")})
    app = await AgentBatch.open(url, registry=registry, upgrade=False)
    reader = await Reader.open(url)
    pool = WorkerPool(worker_env(url, home, cfg.lease_s, cfg.batch_requests), workdir)
    try:
        log(f"database {url.rsplit('/', 1)[1]}, logs in {workdir}")
        groups = await _create_agents(app, cfg)
        log(f"{cfg.agents} agents created in {time.monotonic() - started:.0f}s")
        run = Run(cfg, app, reader, pool, random.Random(cfg.seed))
        chaos_start = time.monotonic()
        pool.start()
        await _chaos(run, groups, log)
        chaos_s = time.monotonic() - chaos_start
        log(f"chaos over after {chaos_s:.0f}s: {run.counts}; draining")
        await _drain(run, log)
        pool.stop()
        drain_s = time.monotonic() - chaos_start - chaos_s
        final = await reader.final_state()
        report = checks.check(final, cfg, run.cancelled, home)
        report.counts = run.counts
        report.notes += run.errors[:5]
        report.chaos_s, report.drain_s = chaos_s, drain_s
        report.wall_s = time.monotonic() - started
        report.log_dir = str(workdir)
        return report
    finally:
        pool.stop(timeout_s=10)
        await reader.close()
        await app.close()
        if not cfg.keep_db:
            await drop_database(url)


async def _create_agents(app: AgentBatch, cfg: ChaosConfig) -> list[list[str]]:
    gate = asyncio.Semaphore(6)

    async def one(i: int) -> str:
        async with gate:
            agent = await app.agents.create_agent(
                app.org_id,
                {
                    "name": f"chaos-{i}",
                    "model": "scripted/chaos",
                    "tools": ["send_message", "core_memory_append"],
                    "blocks": [{"label": "human", "value": ""}],
                },
            )
        return str(agent["id"])

    ids = await asyncio.gather(*(one(i) for i in range(cfg.agents)))
    size = -(-len(ids) // cfg.jobs)
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


async def _create_job(run: Run, agent_ids: list[str]) -> str:
    job = await run.app.jobs.create_job(
        run.app.org_id,
        {
            "requests": [{"agent_id": a, "messages": "hello"} for a in agent_ids],
            "max_steps": run.cfg.steps,
            "max_attempts": run.cfg.max_attempts,
            "options": {"script": script(run.cfg.steps), "polls": run.cfg.polls},
        },
    )
    return str(job["id"])


async def _chaos(run: Run, groups: list[list[str]], log: Any) -> None:
    cfg, rng, pool = run.cfg, run.rng, run.pool
    t0 = time.monotonic()
    to_cancel = set(rng.sample(range(len(groups)), min(cfg.cancel_jobs, len(groups))))
    next_event = t0 + rng.expovariate(1 / cfg.mean_event_s)
    while True:
        now = time.monotonic()
        pool.resume_due(now)
        exited = pool.unexpected_exits()
        if exited:
            log(f"worker(s) exited on their own: {exited}")
            run.counts.worker_exits += len(exited)
            pool.revive()
        while len(run.jobs) < len(groups) and now >= t0 + len(run.jobs) * cfg.stagger_s:
            index = len(run.jobs)
            run.jobs.append(await _create_job(run, groups[index]))
            if index in to_cancel:
                # a random point in the job's life, or a racy window shortly before it
                at = rng.uniform(0.0, 0.85)
                run.cancel_plan[run.jobs[index]] = (max(0.0, at - 0.2), at)
        pending = [j for j in run.cancel_plan if j not in run.cancel_tried]
        progress = await run.reader.job_progress(pending, cfg.steps) if pending else {}
        ready = {j for j in pending if progress.get(j, (0.0, ""))[0] >= run.cancel_plan[j][0]}
        hot = await run.reader.hot()
        await _targeted(run, hot, ready, now)
        for job_id in pending:
            done, status = progress.get(job_id, (0.0, ""))
            if job_id not in run.cancel_tried and (
                done >= run.cancel_plan[job_id][1] or status in TERMINAL_JOB
            ):
                _cancel(run, job_id, targeted=False)
        if now >= next_event:
            _random_event(run)
            next_event = now + rng.expovariate(1 / cfg.mean_event_s)
        if len(run.jobs) == len(groups) and not run.cancel_plan.keys() - run.cancel_tried:
            statuses = await run.reader.job_statuses()
            if all(statuses.get(j) in TERMINAL_JOB for j in run.jobs):
                break
        if now - t0 > cfg.chaos_limit_s:
            log("chaos time limit reached with jobs unfinished")
            break
        await asyncio.sleep(0.02)
    run.pool.revive()  # a cancel may wait on a paused worker's row locks
    await asyncio.gather(*run.tasks)


async def _targeted(run: Run, hot: list[Any], to_cancel: set[str], now: float) -> None:
    cfg, rng, pool = run.cfg, run.rng, run.pool
    for h in hot:
        if h.job_id in to_cancel and rng.random() < cfg.targeted_cancel_p:
            _cancel(run, h.job_id, targeted=True)
            to_cancel.discard(h.job_id)
    if not hot or now < run.next_targeted or any(s.paused for s in pool.slots):
        return
    h = rng.choice(hot)
    pid = pid_of_owner(h.owner)
    slot = pool.slot_of_pid(pid) if pid is not None else None
    if slot is None:
        return
    run.next_targeted = now + 2.0
    if rng.random() >= cfg.targeted_pause_p:
        return
    if h.kind == "submit" and rng.random() < 0.3:
        pool.kill(slot)  # between provider call and its record: an orphan batch
        run.counts.kills += 1
        run.counts.targeted_kills += 1
        return
    pool.pause(slot, cfg.lease_s + rng.uniform(0.5, 2.5))
    run.counts.pauses += 1
    run.counts.targeted_pauses += 1


def _random_event(run: Run) -> None:
    cfg, rng, pool = run.cfg, run.rng, run.pool
    running = [s for s in pool.slots if not s.paused]
    if not running:
        return
    slot = rng.choice(running)
    if rng.random() < cfg.kill_share:
        pool.kill(slot)
        run.counts.kills += 1
    elif len(running) == len(pool.slots):  # keep one worker going
        pool.pause(slot, cfg.lease_s + rng.uniform(0.5, 3.0))
        run.counts.pauses += 1


def _cancel(run: Run, job_id: str, *, targeted: bool) -> None:
    """Cancel through the Python API in the background (it may wait on a paused worker's
    row locks), then snapshot what the job holds."""
    run.cancel_tried.add(job_id)

    async def go() -> None:
        for _attempt in range(5):
            try:
                await run.app.jobs.cancel_job(None, job_id)
                break
            except Conflict:
                run.counts.cancels_too_late += 1
                return
            except Exception as exc:  # what a user would see; they would try again
                run.counts.cancel_errors += 1
                run.errors.append(f"cancel {job_id}: {type(exc).__name__}: {str(exc)[:200]}")
                await asyncio.sleep(0.5)
        else:
            return
        done_at = utcnow()
        snapshot = await run.reader.cancel_snapshot(job_id)
        run.cancelled[job_id] = (done_at, snapshot)
        run.counts.cancels += 1
        run.counts.targeted_cancels += targeted

    run.tasks.append(asyncio.create_task(go()))


async def _drain(run: Run, log: Any) -> None:
    """Every worker up, no more chaos: wait for all work to end, or for nothing to move."""
    cfg = run.cfg
    run.pool.revive()
    start = last_change = time.monotonic()
    last_key = None
    while True:
        await asyncio.sleep(0.5)
        now = time.monotonic()
        with contextlib.suppress(Exception):
            exited = run.pool.unexpected_exits()
            if exited:
                run.counts.worker_exits += len(exited)
                run.pool.revive()
        key, active, open_batches = await run.reader.progress()
        statuses = await run.reader.job_statuses()
        if key != last_key:
            last_key, last_change = key, now
        done = all(s in TERMINAL_JOB for s in statuses.values())
        if done and not active and not open_batches:
            return
        if now - last_change > cfg.quiet_s:
            log(f"nothing moved for {cfg.quiet_s:.0f}s: {active} run(s), {open_batches} batch(es)")
            return
        if now - start > cfg.drain_timeout_s:
            log("drain timed out")
            return
