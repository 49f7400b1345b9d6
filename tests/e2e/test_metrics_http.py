"""``/metrics`` scraped before and after a job: each counter moved by what the job did
(items applied by outcome, retries and failures by kind, runs finished, tokens and cost
by model, provider batches), and the database gauges show nothing left in flight."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentbatch.api import metrics_route
from agentbatch.observability import set_observer
from tests.conftest import fast_settings
from tests.e2e.dashboard_support import create_job, wait_done
from tests.e2e.http_support import mint_keys, serve

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: httpx.Client) -> Samples:
    metrics_route.reset_cache()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture
def priced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"scripted/demo": {"input": 3.0, "output": 15.0}}))
    monkeypatch.setenv("AGENTBATCH_PRICES", str(prices))
    set_observer(None)  # the next runtime's observer reads the prices
    yield
    set_observer(None)


def test_counters_move_by_what_the_job_did(tmp_path: Path, priced: None) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'metrics.db'}"
    (key,) = mint_keys(url, "org-a")
    with serve(url, settings=fast_settings(max_attempts=2)) as srv:
        api = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"})
        anonymous = httpx.Client(base_url=srv.url)
        before = scrape(anonymous)
        job_id, _good, _bad = create_job(api, ok=3, failing=2)
        job = wait_done(api, job_id)
        after = scrape(anonymous)

    assert job["status"] == "completed"
    assert moved(before, after, "agentbatch_items_applied_total", outcome="succeeded") == 9
    assert moved(before, after, "agentbatch_items_applied_total", outcome="errored") == 4
    assert moved(before, after, "agentbatch_retries_total", kind="provider_error") == 2
    assert moved(before, after, "agentbatch_run_failures_total", kind="provider_error") == 2
    assert moved(before, after, "agentbatch_runs_finished_total", status="completed") == 3
    assert moved(before, after, "agentbatch_runs_finished_total", status="failed") == 2
    assert moved(before, after, "agentbatch_jobs_finished_total", status="completed") == 1
    steps = moved(before, after, "agentbatch_agent_steps_total", provider="scripted", model="demo")
    assert steps == job["usage"]["model_calls"] == 9
    usage = job["usage"]
    tokens_in = moved(
        before, after, "agentbatch_tokens_total", provider="scripted", model="demo", type="input"
    )
    tokens_out = moved(
        before, after, "agentbatch_tokens_total", provider="scripted", model="demo", type="output"
    )
    assert (tokens_in, tokens_out) == (usage["input_tokens"], usage["output_tokens"])
    cost = moved(before, after, "agentbatch_cost_usd_total", provider="scripted", model="demo")
    assert cost == pytest.approx(job["cost"]["usd"], abs=1e-6) and cost > 0
    batches = sum(job["provider_batches"].values())
    assert (
        moved(before, after, "agentbatch_provider_batches_submitted_total", provider="scripted")
        == batches
    )
    assert (
        moved(
            before,
            after,
            "agentbatch_provider_batches_ended_total",
            provider="scripted",
            status="ingested",
        )
        == batches
    )
    assert (
        moved(before, after, "agentbatch_provider_requests_submitted_total", provider="scripted")
        == 13
    )
    assert (
        moved(before, after, "agentbatch_worker_pass_duration_seconds_count", pass_name="submit")
        > 0
    )
    # database gauges: nothing of the ended job is still open
    assert after[("agentbatch_runs", (("status", "queued"),))] == 0
    assert after[("agentbatch_jobs", (("status", "running"),))] == 0


def test_metrics_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTBATCH_METRICS_TOKEN", "s3cret")
    url = f"sqlite+aiosqlite:///{tmp_path / 'metrics.db'}"
    mint_keys(url, "org-a")
    with serve(url, with_worker=False) as srv:
        client = httpx.Client(base_url=srv.url)
        assert client.get("/metrics").status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and "agentbatch_items_applied" in ok.text
