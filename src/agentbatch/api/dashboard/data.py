"""What each dashboard page shows, read for one organisation (store reads + pure
presentation). Totals of ended jobs never change: they are kept in a small cache."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any

from agentbatch.api.dashboard import eta, present
from agentbatch.ids import as_utc, utcnow
from agentbatch.pricing import PriceTable, context_window
from agentbatch.store import agent_views, block_history
from agentbatch.store import dashboard as reads
from agentbatch.store.agents_repo import blocks_for_agents
from agentbatch.store.db import Database

PAGE = 50
CHART_BUCKETS = 60
_ENDED: OrderedDict[str, present.Totals] = OrderedDict()  # totals of ended jobs
_ENDED_MAX = 2000


class Pages:
    def __init__(self, db: Database, prices: PriceTable | None = None) -> None:
        self.db = db
        self.prices = prices or PriceTable.load()

    async def _totals(self, conn: Any, jobs: list[Any]) -> dict[str, present.Totals]:
        out = {j.id: _ENDED[j.id] for j in jobs if j.id in _ENDED}
        missing = [j.id for j in jobs if j.id not in out]
        read = present.totals(await reads.run_totals(conn, missing))
        for job in jobs:
            if job.id in missing:
                out[job.id] = read.get(job.id, present.Totals())
                if job.status in present.TERMINAL_JOB:
                    _ENDED[job.id] = out[job.id]
                    if len(_ENDED) > _ENDED_MAX:
                        _ENDED.popitem(last=False)
        return out

    def _summary(
        self, job: Any, t: present.Totals, history: list[Any], in_flight: list[Any]
    ) -> dict[str, Any]:
        now = utcnow()
        estimate = None
        if job.status not in present.TERMINAL_JOB:
            estimate = eta.estimate(
                now=now,
                counts=t.counts,
                steps=t.steps,
                max_steps=job.max_steps,
                in_flight=[_utc(b.submitted_at or b.created_at) for b in in_flight],
                history=[(_utc(h.submitted_at), _utc(h.ended_at)) for h in history],
            )
        return {
            "job": job,
            "counts": t.counts,
            "total_runs": t.runs,
            "segments": present.segments(t.counts),
            "finished_pct": present.finished_pct(t.counts),
            "tokens": t.tokens,
            "model_calls": t.model_calls,
            "cost": self.prices.job_cost(t.usage_rows()),
            "eta": estimate,
            "eta_text": eta.human(estimate.seconds) if estimate else None,
            "terminal": job.status in present.TERMINAL_JOB,
        }

    async def jobs(self, org_id: str, *, before: str | None, status: str | None) -> dict[str, Any]:
        async with self.db.read() as conn:
            rows = await reads.job_rows(conn, org_id, limit=PAGE + 1, before=before, status=status)
            page = rows[:PAGE]
            totals = await self._totals(conn, page)
            running = [j.id for j in page if j.status not in present.TERMINAL_JOB]
            history = await reads.turnarounds(conn, org_id) if running else []
            batches = await reads.batch_rows(conn, running, limit=1000) if running else []
        open_by_job: dict[str, list[Any]] = {}
        for b in batches:
            if b.status in ("submitting", "in_progress"):
                open_by_job.setdefault(b.job_id, []).append(b)
        return {
            "jobs": [
                self._summary(j, totals[j.id], history, open_by_job.get(j.id, [])) for j in page
            ],
            "next": page[-1].id if len(rows) > PAGE else None,
            "status": status,
            "live": bool(running),
        }

    async def job(self, org_id: str, job_id: str) -> dict[str, Any] | None:
        async with self.db.read() as conn:
            job = await reads.job_row(conn, org_id, job_id)
            if job is None:
                return None
            start = as_utc(job.started_at or job.created_at)
            assert start is not None
            end = as_utc(job.finished_at) or utcnow()
            width = max(1.0, (end - start).total_seconds() / CHART_BUCKETS)
            rows = await reads.job_buckets(conn, job.id, start, width)
            t = present.totals(rows).get(job.id, present.Totals())
            buckets = [(int(r.b), r.status, int(r.n)) for r in rows if r.b is not None]
            batches = await reads.batch_rows(conn, [job.id], limit=200)
            history = (
                await reads.turnarounds(conn, org_id)
                if job.status not in present.TERMINAL_JOB
                else []
            )
            groups = []
            for g in await reads.failure_groups(conn, job.id):
                examples = await reads.failure_examples(conn, job.id, g.kind, g.error)
                groups.append({"kind": g.kind, "error": g.error, "n": g.n, "examples": examples})
        in_flight = [b for b in batches if b.status in ("submitting", "in_progress")]
        out = self._summary(job, t, history, in_flight)
        out.update(
            batches=[_batch_view(b) for b in batches],
            failures=groups,
            chart=present.chart_svg(buckets, CHART_BUCKETS, width, t.runs),
            usage_rows=t.usage_rows(),
        )
        return out

    async def runs(
        self,
        job_id: str,
        *,
        status: str | None,
        after: str | None,
        before: str | None,
    ) -> dict[str, Any]:
        async with self.db.read() as conn:
            rows = await reads.run_page(
                conn, job_id, status=status, after=after, before=before, limit=PAGE + 1
            )
        more = len(rows) > PAGE
        if before:
            page = rows[-PAGE:] if more else rows
            has_prev, has_next = more, True
        else:
            page = rows[:PAGE]
            has_prev, has_next = bool(after), more
        return {
            "rows": page,
            "status": status,
            "prev": page[0].id if page and has_prev else None,
            "next": page[-1].id if page and has_next else None,
        }

    async def run(self, org_id: str, run_id: str) -> dict[str, Any] | None:
        async with self.db.read() as conn:
            run = await reads.run_row(conn, org_id, run_id)
            if run is None:
                return None
            items = await reads.run_items(conn, run.id)
            agent = await agent_views.agent_row(conn, org_id, run.agent_id)
        return {"run": run, "items": items, "agent": agent}

    async def agent(
        self, org_id: str, agent_id: str, *, before: int | None, run_id: str | None
    ) -> dict[str, Any] | None:
        async with self.db.read() as conn:
            agent = await agent_views.agent_row(conn, org_id, agent_id)
            if agent is None:
                return None
            rows = await agent_views.transcript(
                conn, agent.id, before=before, run_id=run_id, limit=PAGE * 2 + 1
            )
            blocks = [b for _, b in await blocks_for_agents(conn, [agent.id])]
            history = await block_history.for_blocks(
                conn, org_id, [b.id for b in blocks], per_block=10
            )
            runs = await agent_views.agent_runs(conn, agent.id)
            n_context, chars = await agent_views.context_size(conn, agent.id)
            last = await agent_views.last_result_usage(conn, runs[0].id) if runs else None
        more = len(rows) > PAGE * 2
        messages = rows[1:] if more else rows
        window = context_window(agent.model)
        used = None
        if isinstance(last, dict) and isinstance(last.get("usage"), dict):
            u = last["usage"]
            used = sum(
                int(u.get(k) or 0)
                for k in ("input_tokens", "cache_read_tokens", "cache_write_tokens")
            )
        estimate = (chars + len(agent.system) + sum(len(b.value) for b in blocks)) // 4
        return {
            "agent": agent,
            "messages": messages,
            "earlier": messages[0].id if more and messages else None,
            "run_id": run_id,
            "blocks": [_block_view(b, history.get(b.id, [])) for b in blocks],
            "runs": runs,
            "live": any(r.status in eta.ACTIVE for r in runs),
            "context": {
                "messages": n_context,
                "estimate": estimate,
                "last_request": used,
                "window": window,
                "pct": round(100.0 * (used or estimate) / window, 1) if window else None,
            },
        }

    async def agents(self, org_id: str, *, after: str | None) -> dict[str, Any]:
        async with self.db.read() as conn:
            rows = await agent_views.agent_page(conn, org_id, after=after, limit=PAGE + 1)
        return {"agents": rows[:PAGE], "next": rows[PAGE - 1].id if len(rows) > PAGE else None}

    async def tools(self, org_id: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            return {"tools": await reads.tool_list(conn, org_id)}


def _utc(value: datetime) -> datetime:
    out = as_utc(value)
    assert out is not None
    return out


def _batch_view(b: Any) -> dict[str, Any]:
    submitted, ended = as_utc(b.submitted_at), as_utc(b.ended_at)
    turnaround = (ended - submitted).total_seconds() if submitted and ended else None
    return {"row": b, "turnaround": eta.human(turnaround) if turnaround is not None else None}


def _block_view(block: Any, versions: list[Any]) -> dict[str, Any]:
    """The block and its latest edits, each with a diff against the version before it."""
    edits = []
    for i, v in enumerate(versions[:-1] if len(versions) > 10 else versions):
        before = versions[i + 1].value if i + 1 < len(versions) else None
        edits.append(
            {"row": v, "diff": present.diff_html(before, v.value), "first": before is None}
        )
    return {"block": block, "edits": edits, "older": len(versions) > 10}
