"""`agentbatch demo --long`: one long-lived agent whose history outgrows its window.

The agent (default: the scripted test model, instant and deterministic; ``--model`` takes
any handle) has a small context window (2,000 tokens). It gets one job per "day", each
telling it something to remember ("fact:…"), each a few steps long. As its history grows,
the runtime evicts the oldest messages and runs summary steps, through the batch like any
other request; the agent's view then shows the token budget, the summary at the head of its
window, and a last job in which it finds the first day's fact with conversation_search.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from agentbatch.app import AgentBatch
from agentbatch.services.context_budget import budget_line

DAYS = [
    ("Monday", "fact:door-code-4412", "the door code of the workshop is 4412"),
    ("Tuesday", "fact:boat-blue", "the boat is painted blue"),
    ("Wednesday", "fact:ferry-0730", "the ferry leaves at 07:30"),
    ("Thursday", "fact:cat-miso", "the cat is called Miso"),
    ("Friday", "fact:tide-low-1410", "low tide is at 14:10"),
    ("Saturday", "fact:market-stall-9", "our market stall is number 9"),
]
STEPS = [
    {"tool": "send_message", "args": {"message": "Noted: {input}"}, "heartbeat": True},
    {"tool": "send_message", "args": {"message": "Anything else about today?"}, "heartbeat": True},
    {"tool": "send_message", "args": {"message": "Filed under today's notes."}, "heartbeat": False},
]
RECALL = [
    {"tool": "conversation_search", "args": {"query": "door code"}, "heartbeat": True},
    {"tool": "send_message", "args": {"message": "I looked it up."}, "heartbeat": False},
]
WINDOW = 2000


def _message(week: int, day: str, fact: str, text: str) -> str:
    return (
        f"Week {week + 1}, {day}: please remember that {text} ({fact}). Also file the usual "
        "notes about the weather, the harbour timetable and the shopping list."
    )


async def run_long_demo(
    model: str, weeks: int, database_url: str | None, console: Console, org: str = "default"
) -> dict[str, Any]:
    async with await AgentBatch.open(database_url, org_id=org) as app:
        agent = await app.agents.create_agent(
            app.org_id,
            {
                "name": "long-lived",
                "model": model,
                "system": "You are a diary keeper. Acknowledge each note with send_message.",
                "model_settings": {"context_window": WINDOW, "max_tokens": 200},
                "tools": ["send_message", "conversation_search"],
            },
        )
        table = Table("job", "status", "model calls", "summary steps", "context after the job")
        scripted = model.startswith("scripted/")
        for week in range(weeks):
            for day, fact, text in DAYS:
                options = {"script": STEPS} if scripted else {}
                job = await app.jobs.create_job(
                    app.org_id,
                    {
                        "requests": [
                            {"agent_id": agent["id"], "messages": _message(week, day, fact, text)}
                        ],
                        "max_steps": 3,
                        "options": options,
                    },
                )
                job = await app.run_job(job["id"])
                view = await app.agents.get_agent(app.org_id, agent["id"], context=True)
                ctx = view["context"]
                table.add_row(
                    f"week {week + 1} {day}",
                    job["status"],
                    str(job["usage"]["model_calls"]),
                    str(job["usage"]["summary_steps"]),
                    f"{ctx['used']}/{WINDOW} tokens, {ctx['in_context_messages']} in window, "
                    f"{ctx['evicted_messages']} evicted",
                )
        console.print(table)
        recall = await app.jobs.create_job(
            app.org_id,
            {
                "requests": [{"agent_id": agent["id"], "messages": "What was the door code?"}],
                "max_steps": 2,
                "options": {"script": RECALL} if scripted else {},
            },
        )
        recall = await app.run_job(recall["id"])
        view = await app.agents.get_agent(app.org_id, agent["id"], context=True)
        history = await app.jobs.job_messages(None, recall["id"], agent_id=agent["id"])
        summary = await _current_summary(app, agent["id"])
    console.print(f"[bold]{view['name']}[/bold] {view['id']}: {budget_line(view['context'])}")
    console.print(f"[bold]summary at the head of its window[/bold]:\n{summary}")
    for m in history:
        if m["kind"] == "tool" and m.get("name") == "conversation_search":
            hits = json.loads(m["content"]).get("message", "")
            console.print(f"[bold]conversation_search('door code')[/bold] → {hits[:400]}")
    return {"agent": view, "summary": summary, "recall": history}


async def _current_summary(app: AgentBatch, agent_id: str) -> str:
    from agentbatch.store.messages import load_context

    async with app.db.read() as conn:
        window = (await load_context(conn, [agent_id])).get(agent_id, [])
    return next((m.content or "" for m in window if m.kind == "summary"), "(no summary yet)")
