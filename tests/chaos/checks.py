"""The checks after a chaos run: every agent judged (``expect``), plus jobs, provider batches
in the database and at the (scripted) provider. The report prints as a table."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbatch.providers.scripted import ScriptedProvider
from tests.chaos.expect import CLOSED_BATCH, TERMINAL_JOB, AgentFacts, Msg, Summary, summarise

if TYPE_CHECKING:
    from tests.chaos.db import CancelSnapshot, FinalState
    from tests.chaos.harness import ChaosConfig, ChaosCounts


@dataclass
class Report:
    config: dict[str, Any]
    summary: Summary
    jobs: dict[str, int]  # status -> count
    stuck_jobs: int = 0  # not terminal at the end
    open_batches: int = 0  # submitting / in_progress in the database at the end
    open_at_provider: int = 0  # batches the provider still runs (never cancelled, never read)
    billed_after_cancel: int = 0  # created at the provider after the job's cancel, not cancelled
    zombie_batches: int = 0  # given up as interrupted, then accepted and run anyway
    counts: ChaosCounts | None = None
    chaos_s: float = 0.0
    drain_s: float = 0.0
    wall_s: float = 0.0
    log_dir: str = ""
    notes: list[str] = field(default_factory=list)

    def failures(self) -> dict[str, int]:
        s = self.summary
        return {
            "lost": s.lost,
            "duplicated": s.duplicated,
            "stuck runs": s.stuck,
            "half-applied / inconsistent": s.inconsistent,
            "written after cancel": s.after_cancel,
            "stuck jobs": self.stuck_jobs,
            "open provider batches (db)": self.open_batches,
            "open at the provider": self.open_at_provider,
            "billed after cancel": self.billed_after_cancel,
            "zombie batches": self.zombie_batches,
            "workers that died on their own": self.counts.worker_exits if self.counts else 0,
            "cancels that raised": self.counts.cancel_errors if self.counts else 0,
        }

    @property
    def ok(self) -> bool:
        return not any(self.failures().values())

    def table(self) -> str:
        s, c = self.summary, self.counts
        rows: list[tuple[str, Any]] = [
            ("seed", self.config["seed"]),
            ("agents x steps", f"{s.agents} x {self.config['steps']}"),
            ("jobs", ", ".join(f"{k} {v}" for k, v in sorted(self.jobs.items()))),
            ("agents completed / cancelled", f"{s.agents_completed} / {s.agents_cancelled}"),
            (
                "cancelled runs by steps applied",
                ", ".join(f"{k}: {n}" for k, n in sorted(s.cancelled_at_step.items())) or "-",
            ),
            ("steps applied", s.steps_applied),
            ("agents with any failure", s.failed_agents),
        ]
        if c is not None:
            rows += [
                ("kill -9", f"{c.kills} ({c.targeted_kills} in a submission)"),
                ("SIGSTOP past the lease", f"{c.pauses} ({c.targeted_pauses} targeted)"),
                (
                    "cancels",
                    f"{c.cancels} ({c.targeted_cancels} targeted; "
                    f"{c.cancels_too_late} came after the job ended)",
                ),
            ]
        rows += [(name, n) for name, n in self.failures().items()]
        rows += [
            (
                "chaos / drain / wall",
                f"{self.chaos_s:.0f}s / {self.drain_s:.0f}s / {self.wall_s:.0f}s",
            ),
            ("result", "PASS" if self.ok else "FAIL"),
        ]
        width = max(len(k) for k, _ in rows)
        lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
        for kind, examples in s.examples.items():
            lines += [f"  {kind}: {e}" for e in examples]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_json(self) -> str:
        out = asdict(self)
        out["failures"] = self.failures()
        out["ok"] = self.ok
        return json.dumps(out, indent=2, default=str)


def check(
    final: FinalState,
    cfg: ChaosConfig,
    cancelled: dict[str, tuple[datetime, CancelSnapshot]],
    home: Path,
) -> Report:
    job_status = {j["id"]: j["status"] for j in final.jobs}
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for m in final.messages:
        by_agent.setdefault(m["agent_id"], []).append(m)
    facts = []
    for run in final.runs:
        job_id, agent_id = run["job_id"], run["agent_id"]
        msgs = [m for m in by_agent.get(agent_id, []) if m["job_id"] == job_id]
        memory = final.memory.get(agent_id, "")
        late: tuple[tuple[str, int], ...] = ()
        memory_moved = False
        if job_id in cancelled:
            snap = cancelled[job_id][1]
            late = tuple((m["kind"], m["step"]) for m in msgs if m["id"] not in snap.message_ids)
            memory_moved = snap.memory.get(agent_id, memory) != memory
        facts.append(
            AgentFacts(
                agent_id=agent_id,
                job_id=job_id,
                job_cancelled=job_status.get(job_id) == "cancelled",
                run_status=run["status"],
                run_error=run["last_error"],
                messages=[
                    Msg(
                        m["id"],
                        m["kind"],
                        m["step"],
                        _json(m["tool_calls"]),
                        bool(m["is_error"]),
                    )
                    for m in msgs
                ],
                memory=memory,
                late_messages=late,
                memory_changed_after_cancel=memory_moved,
            )
        )
    jobs: dict[str, int] = {}
    for status in job_status.values():
        jobs[status] = jobs.get(status, 0) + 1
    report = Report(
        config=asdict(cfg),
        summary=summarise(facts, cfg.steps),
        jobs=jobs,
        stuck_jobs=sum(s not in TERMINAL_JOB for s in job_status.values()),
        open_batches=sum(b["status"] not in CLOSED_BATCH for b in final.batches),
    )
    _check_batches(report, final, cancelled)
    report.open_at_provider = len(open_at_scripted_provider(home / "scripted"))
    return report


def _check_batches(
    report: Report, final: FinalState, cancelled: dict[str, tuple[datetime, CancelSnapshot]]
) -> None:
    outcomes: dict[str, list[dict[str, Any]]] = {}
    for item in final.items:
        outcomes.setdefault(item["provider_batch_id"], []).append(item)
    for batch in final.batches:
        items = outcomes.get(batch["id"], [])
        cancel = cancelled.get(batch["job_id"])
        submitted = batch["submitted_at"]
        if (
            cancel is not None
            and submitted is not None
            and submitted > cancel[0]
            and any(i["outcome"] == "succeeded" for i in items)
        ):
            report.billed_after_cancel += 1
        interrupted = any("interrupted" in (i["error"] or "") for i in items)
        if interrupted and batch["status"] in ("in_progress", "ingested"):
            report.zombie_batches += 1


def open_at_scripted_provider(spool: Path) -> list[str]:
    """Scripted batches still running: neither cancelled nor polled to their end (ingested
    ones are removed by the runtime's cleanup)."""
    provider = ScriptedProvider(spool)
    handles = sorted(p.name.removesuffix(".state.json") for p in spool.glob("*.state.json"))
    return [h for h in handles if provider.is_open(h)]


def _json(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value)
    return value
