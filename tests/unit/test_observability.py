"""Pure parts of observability and the dashboard: when tracing is on, the ETA from the
turnaround history, word diffs of block versions, progress segments, log lines with ids,
capped label values, derived span ids."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from agentbatch.api.dashboard import eta, present
from agentbatch.errors import ConfigError
from agentbatch.observability.logs import IdsFilter, JsonFormatter, TextFormatter, bind
from agentbatch.observability.prom import LabelCap
from agentbatch.observability.settings import ObservabilitySettings, tracing_requested
from agentbatch.observability.tracing import ForcedIds, span_id_of, trace_id_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_off_unless_the_otel_variables_ask(env: dict[str, str], on: bool) -> None:
    assert tracing_requested(env) is on


def test_settings_reject_bad_values() -> None:
    with pytest.raises(ConfigError, match="AGENTBATCH_LOG_FORMAT"):
        ObservabilitySettings.from_env({"AGENTBATCH_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="AGENTBATCH_METRICS_PORT"):
        ObservabilitySettings.from_env({"AGENTBATCH_METRICS_PORT": "99999"})
    s = ObservabilitySettings.from_env(
        {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true", "AGENTBATCH_METRICS": "0"}
    )
    assert s.capture_content and not s.metrics and not s.tracing


def test_eta_counts_the_round_in_flight_and_the_rounds_left() -> None:
    history = [(T0, T0 + timedelta(minutes=m)) for m in (8, 10, 12)]  # median 10 min
    estimate = eta.estimate(
        now=T0 + timedelta(minutes=4),
        counts={"completed": 10, "waiting_model": 10},
        steps={"completed": 30, "waiting_model": 10},  # finished runs took 3 steps; active at 1
        max_steps=5,
        in_flight=[T0],  # sent 4 minutes ago
        history=history,
    )
    assert estimate.turnaround_s == 600 and estimate.rounds_left == 2
    assert estimate.seconds == pytest.approx(6 * 60 + 600)
    unknown = eta.estimate(
        now=T0, counts={"queued": 3}, steps={}, max_steps=3, in_flight=[], history=[]
    )
    assert unknown.seconds is None and "no provider batch" in unknown.note
    assert eta.human(3725) == "1h 02m" and eta.human(None) == "unknown"


def test_diff_marks_words_and_escapes_text() -> None:
    html = str(present.diff_html("likes tea", "likes <b>green</b> tea"))
    assert html == "likes <ins>&lt;b&gt;green&lt;/b&gt; </ins>tea"
    assert str(present.diff_html("a b c", "a c")) == "a <del>b </del>c"
    assert str(present.diff_html(None, "first")) == "<ins>first</ins>"


def test_progress_segments_add_up() -> None:
    segs = present.segments({"completed": 3, "failed": 1, "queued": 0})
    assert [(s["status"], s["n"]) for s in segs] == [("completed", 3), ("failed", 1)]
    assert sum(s["pct"] for s in segs) == pytest.approx(100)
    assert present.finished_pct({"completed": 1, "waiting_model": 3}) == 25.0


def test_log_lines_carry_the_bound_ids() -> None:
    record = logging.LogRecord(
        "agentbatch.x", logging.INFO, __file__, 1, "hello %s", ("you",), None
    )
    with bind(job_id="job-1"), bind(batch_id="pbatch-2"):
        IdsFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello you"
    assert (line["job_id"], line["batch_id"]) == ("job-1", "pbatch-2")
    assert TextFormatter().format(record).endswith("[job_id=job-1 batch_id=pbatch-2]")
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    IdsFilter().filter(outside)
    assert "job_id" not in json.loads(JsonFormatter().format(outside))


def test_tenant_chosen_label_values_are_capped() -> None:
    cap = LabelCap(limit=2)
    assert [cap("a"), cap("b"), cap("c"), cap("a")] == ["a", "b", "other", "a"]


def test_forced_ids_apply_to_one_span_only() -> None:
    ids = ForcedIds()
    ids.force(trace_id_of("job:1"), span_id_of("job:1"))
    assert ids.generate_trace_id() == trace_id_of("job:1")
    assert ids.generate_span_id() == span_id_of("job:1")
    assert ids.generate_span_id() != span_id_of("job:1")
    assert trace_id_of("job:1") == trace_id_of("job:1") != trace_id_of("job:2")
