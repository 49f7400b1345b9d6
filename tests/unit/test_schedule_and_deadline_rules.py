"""Pure rules of issue 12: cron fire plans and missed-fire policies, durations and
deadlines, message templates, the batch-or-live choice, and the prompt-cache split of a
request's estimated tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentbatch.domain.cron import next_times, plan_fire, validate_cron
from agentbatch.domain.durations import format_duration, parse_deadline, parse_duration
from agentbatch.domain.templates import AgentFields, compile_template
from agentbatch.providers.token_estimate import cache_split, estimate_input_tokens
from agentbatch.runtime.deadlines import must_escalate, percentile, use_batch

T = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
GRACE = timedelta(minutes=5)


def test_an_on_time_fire_runs_and_the_next_is_the_following_time() -> None:
    plan = plan_fire(
        "0 * * * *", "UTC", due_at=T, now=T + timedelta(seconds=20), policy="skip", grace=GRACE
    )
    assert (plan.fire_at, plan.missed, plan.next_fire_at) == (T, 0, T + timedelta(hours=1))


@pytest.mark.parametrize(
    ("policy", "fire_at", "missed"),
    [("skip", None, 5), ("run_once", T + timedelta(hours=4), 4)],
)
def test_fires_missed_while_no_worker_ran(
    policy: str, fire_at: datetime | None, missed: int
) -> None:
    now = T + timedelta(hours=4, minutes=30)  # 00:00 .. 04:00 passed, 04:00 is 30 min late
    plan = plan_fire("0 * * * *", "UTC", due_at=T, now=now, policy=policy, grace=GRACE)
    assert (plan.fire_at, plan.missed, plan.latest) == (fire_at, missed, T + timedelta(hours=4))
    assert plan.next_fire_at == T + timedelta(hours=5)


def test_a_late_single_fire_under_skip_is_skipped_within_grace_it_runs() -> None:
    late = plan_fire(
        "0 2 * * *", "UTC", due_at=T, now=T + timedelta(minutes=6), policy="skip", grace=GRACE
    )
    assert late.fire_at is None and late.missed == 1
    ok = plan_fire(
        "0 2 * * *", "UTC", due_at=T, now=T + timedelta(minutes=4), policy="skip", grace=GRACE
    )
    assert ok.fire_at == T and ok.missed == 0


def test_a_year_of_minutely_fires_is_counted_and_bounded() -> None:
    plan = plan_fire(
        "* * * * *", "UTC", due_at=T, now=T + timedelta(days=365), policy="run_once", grace=GRACE
    )
    assert plan.fire_at == T + timedelta(days=365) and plan.missed == 9_999


def test_cron_in_a_time_zone_follows_daylight_saving() -> None:
    times = next_times("0 2 * * *", "Europe/Paris", datetime(2026, 3, 28, 12, tzinfo=UTC), 2)
    # 2:00 does not exist on the night the clocks go forward: 3:00 CEST (01:00 UTC)
    assert times == [datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 3, 30, 0, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("expr", "tz", "message"),
    [
        ("0 2 * *", "UTC", "5 fields"),
        ("0 2 * * * *", "UTC", "5 fields"),
        ("61 2 * * *", "UTC", "not valid"),
        ("0 2 * * *", "Nowhere/City", "unknown time zone"),
    ],
)
def test_bad_cron_and_zones_are_refused(expr: str, tz: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_cron(expr, tz)


def test_durations_and_deadlines() -> None:
    assert parse_duration("6h") == timedelta(hours=6)
    assert parse_duration("1d12h30m") == timedelta(days=1, hours=12, minutes=30)
    assert parse_duration("90") == timedelta(seconds=90)
    assert format_duration(3723) == "1h2m3s"
    assert parse_deadline("45m", T) == T + timedelta(minutes=45)
    assert parse_deadline("2026-03-02T06:00:00Z", T) == T + timedelta(hours=6)
    for bad in ("6x", "", "-1h", "0s", "400d", "2026-03-01T00:00:00Z", "2026-03-02T06:00:00"):
        with pytest.raises(ValueError):
            parse_deadline(bad, T)


def test_templates_render_per_agent_and_refuse_unknown_fields() -> None:
    template = compile_template(
        "Hi {{agent.name}} ({{ agent.metadata.team.name }}, {{agent.tags}}): {{agent.metadata.n}}"
    )
    agent = AgentFields("a1", "owl", "x/y", ["night", "vip"], {"team": {"name": "blue"}, "n": 3})
    assert template.per_agent
    assert template.render(agent)[0]["content"] == "Hi owl (blue, night, vip): 3"
    lost = AgentFields("a2", "lark", "x/y", [], {})
    assert template.render(lost)[0]["content"] == "Hi lark (, ): "
    assert not compile_template("plain text {not a placeholder}").per_agent
    for bad in ("{{agent.secret}}", "{{ __class__ }}", "{{agent.metadata}}"):
        with pytest.raises(ValueError, match="unknown placeholder"):
            compile_template(bad)
    with pytest.raises(ValueError, match="renders empty"):
        compile_template("{{agent.metadata.note}}").render(lost)


def test_a_step_goes_live_when_one_more_batch_round_leaves_no_time() -> None:
    deadline = T + timedelta(minutes=45)
    kw = {"batch_s": 1800.0, "live_s": 60.0, "margin_s": 60.0, "deadline": deadline}
    assert use_batch(now=T, steps_left=3, **kw)  # 30 min + 2 live calls + margin fit
    assert not use_batch(now=T + timedelta(minutes=30), steps_left=2, **kw)
    assert use_batch(now=T, steps_left=3, batch_s=1800.0, live_s=60.0, margin_s=60.0, deadline=None)
    assert not must_escalate(
        now=T + timedelta(minutes=30), deadline=deadline, steps_left=3, live_s=60, margin_s=60
    )
    assert must_escalate(
        now=T + timedelta(minutes=41), deadline=deadline, steps_left=3, live_s=60, margin_s=60
    )


def test_percentile_is_nearest_rank() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 90) == 5.0
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile([7.0], 90) == 7.0


def test_the_cache_split_of_an_anthropic_request() -> None:
    marked = {"type": "ephemeral", "ttl": "1h"}
    params = {
        "tools": [{"name": "t", "input_schema": {"type": "object"}, "cache_control": marked}],
        "system": [{"type": "text", "text": "S" * 4000, "cache_control": marked}],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "u" * 2000, "cache_control": marked}],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "a" * 400}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": "v" * 400, "cache_control": marked}],
            },
        ],
    }
    entry = {"custom_id": "x", "params": params}
    read, written, plain = cache_split(entry)
    total = estimate_input_tokens(entry)
    assert read + written + plain == total
    assert 1500 <= read <= 1600  # tools, system and the first turn (the previous step's)
    assert 200 <= written <= 260 and plain < 40
    unmarked = {
        "custom_id": "x",
        "params": {**params, "messages": [{"role": "user", "content": "hi"}]},
    }
    read, written, _ = cache_split(unmarked)
    assert written == 0 and 1000 <= read <= 1060  # tools and system only
