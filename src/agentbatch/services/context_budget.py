"""Token budget lines: an agent's context window now (``agents show``) and what a job's
runs did to their windows (``batches show``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.agents import BlockView
from agentbatch.domain.model_io import ToolSpec
from agentbatch.memory_settings import MemorySettings, window_for
from agentbatch.step.memory import MemoryRenderer
from agentbatch.step.prepare import add_heartbeat
from agentbatch.step.tokens import fixed_tokens, message_tokens, text_counter
from agentbatch.step.window import order_window
from agentbatch.store import agents_repo, messages, passages
from agentbatch.tools.builtins import BUILTIN_SPECS


async def agent_budget(conn: AsyncConnection, row: Any, block_rows: list[Any]) -> dict[str, Any]:
    """Window size (None: not managed), tokens its next request would use (system message
    with memory, tools, in-context messages; before the job's new input), summaries and
    messages out of the window, archival passages."""
    window = window_for(row.model, row.model_settings, MemorySettings.from_env())
    counter = text_counter(row.model)
    views = [
        BlockView(b.id, b.label, b.value, b.limit, b.description, bool(b.read_only), b.version)
        for b in block_rows
    ]
    system = MemoryRenderer().system_message(row.system, views)
    customs = {t.name: t for t in await agents_repo.tool_rows(conn, row.org_id, row.tool_names)}
    specs = [
        add_heartbeat(
            BUILTIN_SPECS.get(n) or ToolSpec(n, customs[n].description, customs[n].parameters)
        )
        for n in row.tool_names
        if n in BUILTIN_SPECS or n in customs
    ]
    window_msgs = order_window((await messages.load_context(conn, [row.id])).get(row.id, []))
    used = fixed_tokens(counter, system, specs) + sum(
        message_tokens(counter, m) for m in window_msgs
    )
    stats = await messages.window_stats(conn, row.id)
    counters = await agents_repo.context_counters(conn, row.id)
    archive = passages.archive_of(row.id, getattr(row, "archive", None))
    return {
        "window": window,
        "used": used,
        "counter": counter.name,
        "in_context_messages": stats["in_context"],
        "evicted_messages": stats["out_of_context"],
        "summaries": stats["summaries"],
        "summary_steps": counters["summary_steps"],
        "passages": await passages.count(conn, row.org_id, archive),
    }


def budget_line(context: dict[str, Any]) -> str:
    window = context.get("window")
    used = int(context.get("used") or 0)
    size = (
        f"{used}/{window} tokens ({used / window:.0%})"
        if window
        else f"{used} tokens (window not managed)"
    )
    return (
        f"context: {size}, {context['in_context_messages']} messages in the window, "
        f"{context['evicted_messages']} evicted, {context['summaries']} summaries made; "
        f"{context['passages']} archival passages"
    )


def job_budget_line(context: dict[str, Any]) -> str | None:
    if not context.get("window") and not context.get("summary_steps"):
        return None
    window = context.get("window")
    peak = context.get("peak_tokens") or 0
    size = (
        f"largest request {peak}/{window} tokens ({peak / window:.0%})"
        if window
        else f"largest request {peak} tokens"
    )
    line = (
        f"context: {size}, {context['summary_steps']} summary steps (batch items), "
        f"{context['evicted_messages']} messages evicted"
    )
    if context.get("notes"):
        line += f"; {context['notes']} run(s) noted an eviction past the target"
    return line
