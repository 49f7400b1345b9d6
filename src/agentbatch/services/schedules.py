"""Schedules: create (validated: cron, zone, target, the job each fire creates), list,
show (next fire times, last fires and their jobs), pause, resume, delete. Fires happen
in the workers (``runtime.schedules``)."""

from __future__ import annotations

from typing import Any

from agentbatch.domain.cron import next_after, next_times, validate_cron
from agentbatch.domain.durations import parse_duration
from agentbatch.domain.templates import compile_template
from agentbatch.errors import Conflict, InvalidInput, NotFound
from agentbatch.ids import Clock, as_utc, iso, new_id, utcnow
from agentbatch.net_guard import AddressPolicy, url_problem
from agentbatch.providers.scripted_model import validate_script
from agentbatch.schemas import ScheduleCreate
from agentbatch.services.agents import parse_model
from agentbatch.services.selectors import selector_spec
from agentbatch.store import schedules, selection
from agentbatch.store.db import Database


def schedule_out(row: Any, totals: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    job = dict(row.job)
    deadline_s = job.get("deadline_s")
    return {
        "id": row.id,
        "name": row.name,
        "cron": row.cron,
        "timezone": row.timezone,
        "status": row.status,
        "agents": dict(row.target).get("agents"),
        "selector": dict(row.target).get("selector"),
        "messages": job.get("messages"),
        "max_steps": job.get("max_steps"),
        "deadline_s": deadline_s,
        "max_cost_usd": job.get("max_cost_usd"),
        "missed": row.missed,
        "grace_s": row.grace_s,
        "next_fire_at": iso(row.next_fire_at) if row.status == schedules.ACTIVE else None,
        "last_fire_at": iso(row.last_fire_at),
        "fires": row.fires,
        "skipped_busy_total": totals[0],
        "missed_total": totals[1],
        "created_at": iso(row.created_at),
    }


def fire_out(row: Any) -> dict[str, Any]:
    return {
        "fire_at": iso(row.fire_at),
        "job_id": row.job_id,
        "job_status": row.job_status,
        "selected": row.selected,
        "skipped_busy": row.skipped_busy,
        "missed": row.missed,
        "error": row.error,
    }


class ScheduleService:
    def __init__(
        self,
        db: Database,
        *,
        max_attempts: int = 3,
        clock: Clock = utcnow,
        callback_policy: AddressPolicy | None = None,
    ) -> None:
        self.db = db
        self.max_attempts = max_attempts
        self.clock = clock
        self.callback_policy = callback_policy or AddressPolicy()

    async def create_schedule(
        self, org_id: str, data: ScheduleCreate | dict[str, Any]
    ) -> dict[str, Any]:
        spec: ScheduleCreate = parse_model(ScheduleCreate, data)
        try:
            validate_cron(spec.cron, spec.timezone)
            compile_template(spec.messages)
            deadline = parse_duration(spec.deadline) if spec.deadline else None
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        if "script" in spec.options:
            try:
                validate_script(spec.options["script"])
            except ValueError as exc:
                raise InvalidInput(f"options.script: {exc}") from None
        if spec.callback_url is not None:
            problem = url_problem(spec.callback_url, self.callback_policy)
            if problem is not None:
                raise InvalidInput(f"callback_url: {problem}")
        now = self.clock()
        target: dict[str, Any] = (
            {"selector": spec.selector}
            if spec.selector is not None
            else {"agents": selector_spec(spec.agents)}
        )
        job = {
            "messages": spec.messages,
            "max_steps": spec.max_steps,
            "max_attempts": spec.max_attempts or self.max_attempts,
            "deadline_s": deadline.total_seconds() if deadline else None,
            "max_cost_usd": spec.max_cost_usd,
            "options": spec.options,
            "metadata": spec.metadata,
            "callback_url": spec.callback_url,
        }
        schedule_id = new_id("sched")
        async with self.db.write() as conn:
            if spec.selector is not None and (
                await selection.selector_row(conn, org_id, spec.selector) is None
            ):
                raise InvalidInput(f"selector {spec.selector!r} not found")
            await schedules.insert_schedule(
                conn,
                {
                    "id": schedule_id,
                    "org_id": org_id,
                    "name": spec.name or spec.cron,
                    "cron": spec.cron,
                    "timezone": spec.timezone,
                    "target": target,
                    "job": job,
                    "missed": spec.missed,
                    "grace_s": spec.grace_s,
                    "status": schedules.ACTIVE,
                    "next_fire_at": next_after(spec.cron, spec.timezone, now),
                    "last_fire_at": None,
                    "fence": 0,
                    "fires": 0,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        return await self.get_schedule(org_id, schedule_id)

    async def get_schedule(
        self, org_id: str, schedule_id: str, *, upcoming: int = 5, last: int = 10
    ) -> dict[str, Any]:
        """The schedule with its next ``upcoming`` fire times and ``last`` fires."""
        async with self.db.read() as conn:
            row = await schedules.get(conn, org_id, schedule_id)
            if row is None:
                raise NotFound(f"schedule {schedule_id!r} not found")
            fires = await schedules.recent_fires(conn, schedule_id, last)
            totals = await schedules.fire_totals(conn, [schedule_id])
        out = schedule_out(row, totals.get(schedule_id, (0, 0)))
        start = as_utc(row.next_fire_at)
        out["next_fire_times"] = (
            [iso(t) for t in next_times(row.cron, row.timezone, start, upcoming)]
            if row.status == schedules.ACTIVE and start is not None
            else []
        )
        out["last_fires"] = [fire_out(f) for f in fires]
        return out

    async def list_schedules(
        self, org_id: str, *, limit: int = 100, after: str | None = None
    ) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            rows = await schedules.list_rows(conn, org_id, limit=limit, after=after)
            totals = await schedules.fire_totals(conn, [r.id for r in rows]) if rows else {}
        return [schedule_out(r, totals.get(r.id, (0, 0))) for r in rows]

    async def pause_schedule(self, org_id: str, schedule_id: str) -> dict[str, Any]:
        now = self.clock()
        async with self.db.write() as conn:
            if not await schedules.pause(conn, org_id, schedule_id, now):
                await self._explain(conn, org_id, schedule_id)
        return await self.get_schedule(org_id, schedule_id)

    async def resume_schedule(self, org_id: str, schedule_id: str) -> dict[str, Any]:
        now = self.clock()
        async with self.db.write() as conn:
            row = await schedules.get(conn, org_id, schedule_id)
            if row is None:
                raise NotFound(f"schedule {schedule_id!r} not found")
            upcoming = next_after(row.cron, row.timezone, now)
            if not await schedules.resume(conn, org_id, schedule_id, upcoming, now):
                raise Conflict(f"schedule {schedule_id!r} is not paused")
        return await self.get_schedule(org_id, schedule_id)

    async def delete_schedule(self, org_id: str, schedule_id: str) -> None:
        async with self.db.write() as conn:
            if not await schedules.delete_schedule(conn, org_id, schedule_id):
                raise NotFound(f"schedule {schedule_id!r} not found")

    async def _explain(self, conn: Any, org_id: str, schedule_id: str) -> None:
        row = await schedules.get(conn, org_id, schedule_id)
        if row is None:
            raise NotFound(f"schedule {schedule_id!r} not found")
        raise Conflict(f"schedule {schedule_id!r} is already {row.status}")
