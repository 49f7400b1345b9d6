"""Jobs, runs and messages as the API, CLI and Python API show them: a job's usage and
cost split into batch and live, its prompt-cache hit ratio, its budget and its live calls."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from agentbatch.domain.statuses import RunStatus
from agentbatch.ids import iso
from agentbatch.pricing import PriceTable
from agentbatch.store import job_limits
from agentbatch.store import jobs_repo as repo
from agentbatch.store.runs_read import outcome_counts


def run_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "agent_id": row.agent_id,
        "model": row.model,
        "status": row.status,
        "step": row.step,
        "attempt": row.attempt,
        "stop_reason": row.stop_reason,
        "reply": row.reply,
        "last_error": row.last_error,
        "context": {
            "window": getattr(row, "context_window", None),
            "peak_tokens": getattr(row, "context_tokens", None),
            "summary_steps": getattr(row, "summary_steps", 0),
            "evicted_messages": getattr(row, "evicted_messages", 0),
            "note": getattr(row, "context_note", None),
        },
        "usage": {
            "input_tokens": row.input_tokens,
            "output_tokens": row.output_tokens,
            "cache_read_tokens": row.cache_read_tokens,
            "cache_write_tokens": row.cache_write_tokens,
        },
        "updated_at": iso(row.updated_at),
        "finished_at": iso(row.finished_at),
    }


def message_out(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "agent_id": row.agent_id,
        "job_id": row.job_id,
        "run_id": row.run_id,
        "step": row.step,
        "role": row.role,
        "kind": row.kind,
        "content": row.content,
    }
    if row.reasoning:
        out["reasoning"] = row.reasoning
    if row.tool_calls:
        out["tool_calls"] = row.tool_calls
    if row.tool_call_id:
        out["tool_call_id"] = row.tool_call_id
        out["name"] = row.name
        out["is_error"] = bool(row.is_error)
    out["created_at"] = iso(row.created_at)
    return out


def job_out(row: Any, counts: dict[str, int], outcomes: dict[str, int]) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "max_steps": row.max_steps,
        "request_count": row.request_count,
        "runs": {s.value: counts.get(s.value, 0) for s in RunStatus},
        "outcomes": outcomes,
        "metadata": row.metadata,
        "callback_url": row.callback_url,
        "callback": {
            "status": row.callback_status,
            "attempts": row.callback_attempts,
            "error": row.callback_error,
        }
        if row.callback_url
        else None,
        "error": row.error,
        "skipped_agents": row.skipped_agents,
        "schedule_id": row.schedule_id,
        "deadline": iso(row.deadline_at),
        "max_cost_usd": row.max_cost_usd,
        "created_at": iso(row.created_at),
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
    }


def cache_summary(usage: dict[str, int]) -> dict[str, Any]:
    """Share of input tokens read from the provider's prompt cache."""
    read, written = usage["cache_read_tokens"], usage["cache_write_tokens"]
    total = usage["input_tokens"] + read + written
    return {
        "read_tokens": read,
        "write_tokens": written,
        "hit_ratio": round(read / total, 4) if total else None,
    }


async def job_details(conn: AsyncConnection, row: Any, prices: PriceTable) -> dict[str, Any]:
    job_id = row.id
    counts = (await repo.run_counts(conn, [job_id]))[job_id]
    outcomes = (await outcome_counts(conn, [job_id]))[job_id]
    usage = await repo.job_usage(conn, job_id)
    by_model = await repo.usage_by_model(conn, job_id)
    live_by_model = await job_limits.live_usage_by_model(conn, job_id)
    batches = await repo.batch_counts(conn, job_id)
    out = job_out(row, counts, outcomes)
    cost = prices.route_cost(by_model, live_by_model)
    routes = cost.pop("by_route")
    out["usage"] = usage
    out["context"] = await repo.job_context(conn, job_id)
    out["cost"] = cost
    out["cache"] = cache_summary(usage)
    out["routes"] = routes
    for kind, n in (await job_limits.route_requests(conn, job_id)).items():
        if kind in out["routes"]:
            out["routes"][kind]["requests"] = n
    out["provider_batches"] = batches
    if row.max_cost_usd is not None:
        committed, in_flight = await job_limits.committed(conn, job_id)
        exhausted = await repo.runs_with_error_kind(conn, job_id, "budget_exhausted")
        out["budget"] = {
            "max_cost_usd": row.max_cost_usd,
            "spent_usd": cost["usd"],
            "committed_usd": round(committed, 6),
            "in_flight": in_flight,
            "exhausted_runs": exhausted,
        }
    return out
