"""`agentbatch demo`: the main job on embedded defaults, no API key, no network.

A handful of agents with personas and memory each get a message holding something to
remember; one batch job runs them to completion through the embedded model (or any model
handle), with live progress; then a table shows, per agent, the steps, tools called, final
reply and memory before and after, and the totals.

Tool rules make the loop reliable even for a 135M model: ``core_memory_append`` must come
first (init) and forces another step (continue), after it only ``send_message`` is allowed
(child), and ``send_message`` ends the run (terminal).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from agentbatch.app import AgentBatch
from agentbatch.services.lookup import names_in_use

PEOPLE = [
    ("Ana", "my favourite colour is teal", "What colour should I paint my door?"),
    ("Ben", "I am allergic to peanuts", "Can you suggest a snack?"),
    ("Chloe", "I live in Lisbon", "What should I do this weekend?"),
    ("Dev", "my dog is called Pixel", "Any tips for a rainy day?"),
    ("Eva", "I play the cello", "What should I practise today?"),
    ("Farid", "I start a new job on Monday", "How do I prepare?"),
    ("Gia", "my birthday is in June", "Plan a small party?"),
    ("Hugo", "I am learning Japanese", "Give me a study tip."),
]
PERSONAS = [
    "a cheerful assistant who keeps notes about people",
    "a calm, practical helper with a good memory",
    "a friendly concierge who remembers details",
    "a concise coach who writes things down",
]
RULES = [
    {"type": "init", "tool": "core_memory_append"},
    {"type": "continue", "tool": "core_memory_append"},
    {"type": "child", "tool": "core_memory_append", "children": ["send_message"]},
    {"type": "terminal", "tool": "send_message"},
]


@dataclass
class DemoOptions:
    agents: int = 8
    steps: int = 3
    model: str = "local/smollm2"
    database_url: str | None = None
    org: str = "default"


def agent_spec(i: int, model: str, prefix: str = "demo") -> dict[str, Any]:
    name = PEOPLE[i % len(PEOPLE)][0]
    return {
        "name": f"{prefix}-{i + 1}",
        "model": model,
        "system": "You are an agent with core memory. First call core_memory_append with "
        "label human and content set to the fact the user told you, copied word for word "
        "(for example: likes hiking). Then call send_message with a short, kind answer.",
        "model_settings": {"max_tokens": 256, "temperature": 0.3},
        "blocks": [
            {
                "label": "persona",
                "value": f"I am {PERSONAS[i % len(PERSONAS)]}.",
                "read_only": True,
                "limit": 500,
            },
            {
                "label": "human",
                "value": f"Name: {name}.",
                "limit": 1000,
                "description": "What I know about the person I talk to.",
            },
        ],
        "tools": ["core_memory_append", "send_message"],
        "tool_rules": RULES,
    }


async def free_prefix(app: AgentBatch, n: int) -> str:
    """``demo`` the first time, then ``demo2``, ``demo3``...: each run gets agents of its own
    whose names are unique, and earlier demo agents stay as they were."""
    for round_ in range(1, 1000):
        prefix = "demo" if round_ == 1 else f"demo{round_}"
        names = [f"{prefix}-{i + 1}" for i in range(n)]
        if not await names_in_use(app.db, app.org_id, names):
            return prefix
    return f"demo-{secrets.token_hex(3)}"


def message_for(i: int) -> str:
    name, fact, question = PEOPLE[i % len(PEOPLE)]
    return f"Hi, I'm {name} and {fact}. Please remember that. {question}"


async def run_demo(opts: DemoOptions, console: Console) -> dict[str, Any]:
    from agentbatch.cli.job_view import wait_for_job
    from agentbatch.config import RuntimeSettings

    settings = RuntimeSettings.from_env()
    settings = RuntimeSettings(
        **{
            **vars(settings),
            "send_delay_s": 0.0,
            "poll_interval_s": min(settings.poll_interval_s, 5.0),
        }
    )
    started = time.perf_counter()
    async with await AgentBatch.open(opts.database_url, settings=settings, org_id=opts.org) as app:
        # as `batches submit` does: a missing key is named before any agent is created
        await app.preflight([opts.model])
        prefix = await free_prefix(app, opts.agents)
        agents = [
            await app.agents.create_agent(app.org_id, agent_spec(i, opts.model, prefix))
            for i in range(opts.agents)
        ]
        before = {a["id"]: _human(a) for a in agents}
        job = await app.jobs.create_job(
            app.org_id,
            {
                "requests": [
                    {"agent_id": a["id"], "messages": message_for(i)} for i, a in enumerate(agents)
                ],
                "max_steps": opts.steps,
                "metadata": {"demo": True},
            },
        )
        console.print(
            f"[bold]agentbatch demo[/bold]: {opts.agents} agents on {opts.model}, "
            f"job {job['id']} (max {opts.steps} steps each)"
        )
        job = await wait_for_job(app, job["id"], run_worker=True)
        rows = []
        runs = {r["agent_id"]: r for r in await app.jobs.job_runs(None, job["id"], limit=1000)}
        for agent in agents:
            after = await app.agents.get_agent(app.org_id, agent["id"])
            msgs = await app.jobs.job_messages(None, job["id"], agent_id=agent["id"], limit=1000)
            calls = [c["name"] for m in msgs for c in m.get("tool_calls") or ()]
            run = runs[agent["id"]]
            rows.append(
                {
                    "agent": agent["name"],
                    "input": message_for(agents.index(agent)),
                    "status": run["status"]
                    + (" (out of steps)" if run["stop_reason"] == "max_steps" else ""),
                    "steps": run["step"],
                    "tools": calls,
                    "reply": run["reply"] or run["last_error"] or "",
                    "before": before[agent["id"]],
                    "after": _human(after),
                }
            )
    elapsed = time.perf_counter() - started
    _print(console, rows, job, elapsed)
    return {"job": job, "agents": rows, "wall_s": elapsed}


def _human(agent: dict[str, Any]) -> str:
    return next((b["value"] for b in agent["blocks"] if b["label"] == "human"), "")


def _print(
    console: Console, rows: list[dict[str, Any]], job: dict[str, Any], elapsed: float
) -> None:
    table = Table(
        "agent",
        "message sent",
        "status",
        "steps",
        "tools called",
        "final reply",
        "memory before",
        "memory after",
        show_lines=True,
    )
    for r in rows:
        changed = r["after"] != r["before"]
        after = f"[green]{r['after']}[/green]" if changed else r["after"]
        table.add_row(
            r["agent"],
            r["input"],
            r["status"],
            str(r["steps"]),
            " → ".join(r["tools"]),
            r["reply"][:120],
            r["before"],
            after,
        )
    console.print(table)
    usage = job["usage"]
    edited = sum(1 for r in rows if r["after"] != r["before"])
    console.print(
        f"job [bold]{job['status']}[/bold]: {usage['model_calls']} model calls, "
        f"{usage['input_tokens']} input + {usage['output_tokens']} output tokens, "
        f"{edited}/{len(rows)} agents edited their memory, wall time {elapsed:.1f} s"
    )
    console.print(
        f"explore: agentbatch batches show {job['id']}  |  agentbatch batches messages {job['id']}"
    )
