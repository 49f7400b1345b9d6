"""Cron schedules (5-field expressions, parsed by ``croniter``, in an IANA time zone) and
what a due schedule does now: which fire runs, how many were missed, when it fires next.

A fire is *on time* while it is at most ``grace`` late. Fires that passed while no worker
ran follow the schedule's policy: ``skip`` runs none of them (only an on-time fire runs),
``run_once`` runs one job for all of them (the latest). Either way the next fire is the
first cron time after now, so a schedule never fires twice for one time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

MISSED_POLICIES = ("skip", "run_once")
MAX_COUNTED = 10_000  # missed fires counted one by one at most (then the count stops)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as UTC or Europe/Paris)"
        ) from None


def validate_cron(expr: str, tz: str = "UTC") -> None:
    """ValueError naming what is wrong with a 5-field cron expression or its zone."""
    zone(tz)
    if len(expr.split()) != 5:
        raise ValueError(
            f"cron {expr!r} must have 5 fields (minute hour day-of-month month day-of-week)"
        )
    try:
        croniter(expr)
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        raise ValueError(f"cron {expr!r} is not valid: {exc}") from None
    if not croniter.is_valid(expr):
        raise ValueError(f"cron {expr!r} is not valid")
    try:  # "0 2 31 2 *" parses but names no real date
        croniter(expr, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(f"cron {expr!r} never fires (no date matches it)") from None


def next_after(expr: str, tz: str, t: datetime) -> datetime:
    """The first fire time strictly after ``t`` (UTC)."""
    it = croniter(expr, t.astimezone(zone(tz)))
    return it.get_next(datetime).astimezone(UTC)


def next_times(expr: str, tz: str, t: datetime, n: int) -> list[datetime]:
    """The next ``n`` fire times from ``t`` on (``t`` itself included when it is one)."""
    it = croniter(expr, (t - timedelta(microseconds=1)).astimezone(zone(tz)))
    return [it.get_next(datetime).astimezone(UTC) for _ in range(n)]


@dataclass(frozen=True)
class FirePlan:
    """What a due schedule does now: ``fire_at`` is the fire time whose job runs (None:
    no job), ``missed`` how many due fire times get no job, ``latest`` the last due fire
    time (what the fire is recorded under), ``next_fire_at`` the next."""

    fire_at: datetime | None
    missed: int
    latest: datetime
    next_fire_at: datetime


def plan_fire(
    expr: str,
    tz: str,
    *,
    due_at: datetime,
    now: datetime,
    policy: str,
    grace: timedelta,
) -> FirePlan:
    """``due_at`` is the fire time the schedule row names (at or before ``now``)."""
    if policy not in MISSED_POLICIES:
        raise ValueError(f"unknown missed-fire policy {policy!r}")
    latest, count = due_at, 1
    it = croniter(expr, due_at.astimezone(zone(tz)))
    while count < MAX_COUNTED:
        candidate = it.get_next(datetime).astimezone(UTC)
        if candidate > now:
            break
        latest, count = candidate, count + 1
    else:  # counted enough: jump to the last fire time at or before now
        latest = _last_at_or_before(expr, tz, now)
    upcoming = next_after(expr, tz, now)
    on_time = now - latest <= grace
    fire_at = latest if (on_time or policy == "run_once") else None
    missed = count - (1 if fire_at is not None else 0)
    return FirePlan(fire_at, missed, latest, upcoming)


def _last_at_or_before(expr: str, tz: str, t: datetime) -> datetime:
    it = croniter(expr, (t + timedelta(microseconds=1)).astimezone(zone(tz)))
    return it.get_prev(datetime).astimezone(UTC)
