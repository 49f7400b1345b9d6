"""What a job produced: runs with outcomes (filterable, paged) and a streaming export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from agentbatch.api.deps import Batch, Org
from agentbatch.api.errors import ERROR_RESPONSES
from agentbatch.api.models import Page, RunResult
from agentbatch.api.routes import LIMIT_DESCRIPTION
from agentbatch.interop import export_formats as fmt
from agentbatch.services.results import RUN_STATUSES, STOP_REASONS

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, tags=["jobs"])
Limit = Annotated[int, Query(ge=1, le=1000, description=LIMIT_DESCRIPTION)]
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of a page")]
Statuses = Annotated[list[str], Query(description=f"run statuses: {', '.join(RUN_STATUSES)}")]
Reasons = Annotated[list[str], Query(description=f"stop reasons: {', '.join(STOP_REASONS)}")]
_MEDIA = {"jsonl": "application/jsonl", "csv": "text/csv", "openai": "application/jsonl"}


@router.get("/jobs/{job_id}/results", response_model=Page[RunResult])
async def job_results(
    job_id: str,
    batch: Batch,
    org: Org,
    status: Statuses = [],  # noqa: B006 (FastAPI reads the default, never mutates it)
    stop_reason: Reasons = [],  # noqa: B006
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """One row per agent: name, status, stop reason (`max_steps`: out of steps before a
    final reply), input, reply, error, steps, tokens, cost."""
    rows, more = await batch.results.list_runs(
        org, job_id, statuses=status, stop_reasons=stop_reason, after=cursor, limit=limit
    )
    return {
        "data": rows,
        "has_more": bool(more),
        "next_cursor": rows[-1]["run_id"] if rows else None,
    }


@router.get(
    "/jobs/{job_id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {m: {} for m in set(_MEDIA.values())}}},
)
async def export_job(
    job_id: str,
    batch: Batch,
    org: Org,
    format: Annotated[str, Query(pattern="^(jsonl|csv|openai)$")] = "jsonl",
) -> StreamingResponse:
    """Every run as JSONL, CSV or OpenAI batch output lines, streamed page by page."""
    job = await batch.jobs.get_job(org, job_id)  # 404 before the stream starts
    custom_ids = fmt.custom_id_rule(job.get("metadata") or {})

    async def lines() -> AsyncIterator[str]:
        if format == "csv":
            yield fmt.csv_header()
        async for row in batch.results.iter_runs(org, job_id):
            if format == "jsonl":
                yield fmt.jsonl_line(row)
            elif format == "csv":
                yield fmt.csv_line(row)
            else:
                yield fmt.openai_line(row, custom_ids(row))

    return StreamingResponse(lines(), media_type=_MEDIA[format])
