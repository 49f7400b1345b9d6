"""`agentbatch bench`: N agents, one job of K steps each, on the scripted provider (instant
batches) or through an emulator; reports time, agent-steps/s, peak RSS and SQL statements
per phase. Setup (agents, blocks) is bulk-inserted and not measured."""

from __future__ import annotations

import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbatch.app import AgentBatch
from agentbatch.bench_cost import cost_report, emulator_billed
from agentbatch.config import RuntimeSettings
from agentbatch.ids import new_id, utcnow
from agentbatch.providers.registry import ProviderRegistry
from agentbatch.store.tables import agent_blocks, agents, blocks


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


SCRIPTS = ("memory", "search")


def bench_script(steps: int, kind: str = "memory") -> list[dict[str, Any]]:
    """K-1 steps of ``core_memory_append`` (``memory``) or ``conversation_search``
    (``search``: a tool that leaves memory as it is) with a heartbeat, then send_message."""
    if kind == "search":
        script = [
            {
                "tool": "conversation_search",
                "args": {"query": f"what was said in step {i}"},
                "heartbeat": True,
            }
            for i in range(steps - 1)
        ]
        script.append(
            {"tool": "send_message", "args": {"message": "All noted."}, "heartbeat": False}
        )
        return script
    script = [
        {
            "tool": "core_memory_append",
            "args": {"label": "human", "content": f"note {i}: {{input}}"},
            "heartbeat": True,
        }
        for i in range(steps - 1)
    ]
    script.append({"tool": "send_message", "args": {"message": "All noted."}, "heartbeat": False})
    return script


@dataclass
class BenchConfig:
    agents: int = 1000
    steps: int = 3
    database_url: str | None = None
    provider: str = "scripted"  # scripted | <name>-emulator (see bench_emulated.MODELS)
    chunk_size: int = 2000
    max_batch_requests: int = 10_000
    trace: bool = False  # spans encoded as OTLP protobuf (then dropped): tracing's cost
    script: str = "memory"  # memory | search (see bench_script)
    cache_conversation: str | None = None  # the job option (Anthropic): auto, 1h, 5m, off
    batch_gap_s: float = 0.0  # emulated time between a run's steps (prompt-cache ttl)


async def _create_agents(
    ab: AgentBatch, n: int, model: str, tools: list[str] | None = None
) -> list[str]:
    now = utcnow()
    shared_id = new_id("block")
    async with ab.db.write() as conn:
        await conn.execute(
            blocks.insert().values(
                id=shared_id,
                org_id=ab.org_id,
                label="team",
                value="Shared team notes.",
                limit=5000,
                description="Shared by every agent",
                read_only=True,
                version=1,
                created_at=now,
                updated_at=now,
            )
        )
    ids: list[str] = []
    for start in range(0, n, 5000):
        agent_rows, block_rows, links = [], [], []
        for i in range(start, min(n, start + 5000)):
            agent_id, block_id = new_id("agent"), new_id("block")
            ids.append(agent_id)
            agent_rows.append(
                {
                    "id": agent_id,
                    "org_id": ab.org_id,
                    "name": f"bench-{i}",
                    "system": "You are a note-taking agent. Record what you learn, then reply.",
                    "model": model,
                    "model_settings": {},
                    "tool_names": tools or ["send_message", "core_memory_append"],
                    "tool_rules": [],
                    "message_buffer_autoclear": False,
                    "metadata": {},
                    "created_at": now,
                    "updated_at": now,
                }
            )
            block_rows.append(
                {
                    "id": block_id,
                    "org_id": ab.org_id,
                    "label": "human",
                    "value": "",
                    "limit": 5000,
                    "description": "What I know about the user",
                    "read_only": False,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            links += [
                {"agent_id": agent_id, "block_id": block_id, "position": 0},
                {"agent_id": agent_id, "block_id": shared_id, "position": 1},
            ]
        async with ab.db.write() as conn:
            await conn.execute(agents.insert(), agent_rows)
            await conn.execute(blocks.insert(), block_rows)
            await conn.execute(agent_blocks.insert(), links)
    return ids


async def run_bench(cfg: BenchConfig, progress: Any = None) -> dict[str, Any]:
    tmp = None
    url = cfg.database_url
    if url is None:
        tmp = tempfile.TemporaryDirectory(prefix="agentbatch-bench-")
        url = f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    os.environ.setdefault("AGENTBATCH_HOME", tmp.name if tmp else tempfile.mkdtemp())
    settings = RuntimeSettings(
        send_delay_s=0.0,
        poll_interval_s=0.0,
        idle_sleep_s=0.0,
        chunk_size=cfg.chunk_size,
        max_batch_requests=cfg.max_batch_requests,
    )
    registry, model, emulator = _provider_setup(cfg)
    ab = await AgentBatch.open(url, settings=settings, registry=registry, upgrade=True)
    try:
        if not ab.db.is_sqlite:
            await _reset_postgres(ab)
        t0 = time.perf_counter()
        tools = ["send_message", "conversation_search"] if cfg.script == "search" else None
        agent_ids = await _create_agents(ab, cfg.agents, model, tools)
        setup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        job = await ab.jobs.create_job(
            ab.org_id,
            {
                # each agent's own first message: no two conversations share a cached prefix
                "requests": [
                    {"agent_id": a, "messages": f"I am {a}. I like green tea."} for a in agent_ids
                ],
                "max_steps": cfg.steps,
                "options": _options(cfg),
            },
        )
        create_s = time.perf_counter() - t0
        exporter = None
        if cfg.trace:
            from agentbatch.bench_observe import EncodingExporter
            from agentbatch.observability import Observer
            from agentbatch.observability.settings import ObservabilitySettings

            exporter = EncodingExporter()
            observe = Observer(ObservabilitySettings(tracing=True), exporters=[exporter])
            worker = ab.worker(observe=observe)
        else:
            worker = ab.worker()
        ctx = worker.ctx
        statements0 = ab.db.statements
        t0 = time.perf_counter()
        status = await worker.run_until(job["id"])
        ctx.observe.shutdown()  # every span exported (counted in the time)
        total_s = time.perf_counter() - t0
        summary = await ab.jobs.get_job(None, job["id"])
        billed = emulator_billed(emulator, model)
    finally:
        await ab.close()
        if emulator is not None:
            emulator.stop()
        if tmp is not None:
            tmp.cleanup()
    agent_steps = int(summary["usage"]["model_calls"])
    phases = {name: vars(p).copy() for name, p in ctx.metrics.phases.items()}
    if "poll+ingest+apply" in phases and "apply" in phases:
        outer = phases.pop("poll+ingest+apply")
        apply = phases["apply"]
        phases["poll+ingest"] = {
            "seconds": outer["seconds"] - apply["seconds"],
            "statements": outer["statements"] - apply["statements"],
            "items": apply["items"],
        }
    for p in phases.values():
        p["agent_steps_per_s"] = round(agent_steps / p["seconds"], 1) if p["seconds"] else None
        p["seconds"] = round(p["seconds"], 3)
    return {
        "agents": cfg.agents,
        "steps": cfg.steps,
        "provider": cfg.provider,
        "database": ab.db.dialect,
        "status": status,
        "runs": summary["runs"],
        "agent_steps": agent_steps,
        "setup_s": round(setup_s, 2),
        "create_job_s": round(create_s, 3),
        "run_s": round(total_s, 3),
        "agent_steps_per_s": round(agent_steps / total_s, 1) if total_s else None,
        "ms_per_agent_step": round(1000 * total_s / agent_steps, 3) if agent_steps else None,
        "sql_statements": ab.db.statements - statements0,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "spans": exporter.spans if exporter is not None else None,
        "otlp_bytes": exporter.bytes if exporter is not None else None,
        "phases": phases,
        "script": cfg.script,
        "cache_conversation": cfg.cache_conversation,
        "batch_gap_s": cfg.batch_gap_s,
        "cost": {**cost_report(summary, agent_steps, model), "emulator_billed_usd": billed},
    }


def _options(cfg: BenchConfig) -> dict[str, Any]:
    options: dict[str, Any] = {"script": bench_script(cfg.steps, cfg.script)}
    if cfg.cache_conversation is not None:
        options["cache_conversation"] = cfg.cache_conversation
    return options


def _provider_setup(cfg: BenchConfig) -> tuple[ProviderRegistry, str, Any]:
    registry = ProviderRegistry()
    if cfg.provider == "scripted":
        return registry, "scripted/bench", None
    from agentbatch.bench_emulated import emulated_provider

    provider, model, server = emulated_provider(
        cfg.provider, cfg.steps, script=cfg.script, batch_gap_s=cfg.batch_gap_s
    )
    registry.register(provider.name, provider)
    return registry, model, server


async def _reset_postgres(ab: AgentBatch) -> None:
    """The bench owns its database: start from empty tables."""
    from sqlalchemy import text

    async with ab.db.write() as conn:
        await conn.execute(
            text(
                "TRUNCATE batch_items, provider_batches, runs, batch_jobs, messages, agent_blocks, "
                "blocks, agents, tools CASCADE"
            )
        )
