"""Job callbacks against a local receiver: signed, retried with backoff, never lost, and
their delivery state visible on the job (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agentbatch.app import AgentBatch
from agentbatch.runtime.callbacks import (
    SIGNATURE_HEADER,
    CallbackSettings,
    callback_pass,
    claim,
    verify_signature,
)
from tests.helpers import make_agents

SECRET = "test-callback-secret"


class Receiver:
    """Answers each POST with the next status of ``plan`` (then 200) and records it."""

    def __init__(self, plan: list[int]) -> None:
        self.plan = list(plan)
        self.calls: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.plan.pop(0) if receiver.plan else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"boom" if status >= 500 else b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/agentbatch"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _local_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receivers listen on 127.0.0.1: the local-development opt-out lets callbacks
    reach them (tests/security checks that nothing private is reached without it)."""
    monkeypatch.setenv("AGENTBATCH_CALLBACK_ALLOW_PRIVATE", "1")


@pytest.fixture
def fast_callbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read when the app opens: list this fixture before ``app``."""
    monkeypatch.setenv("AGENTBATCH_CALLBACK_SECRET", SECRET)
    monkeypatch.setenv("AGENTBATCH_CALLBACK_BACKOFF", "0")
    monkeypatch.setenv("AGENTBATCH_CALLBACK_MAX_ATTEMPTS", "3")


def signature_ok(headers: dict[str, str], body: bytes) -> bool:
    fields = dict(p.split("=", 1) for p in headers[SIGNATURE_HEADER.lower()].split(","))
    expected = hmac.new(SECRET.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), fields["v1"])


async def settle_callbacks(app: AgentBatch, job_id: str, ticks: int = 50) -> dict[str, Any]:
    worker = app.worker()
    for _ in range(ticks):
        job = await app.jobs.get_job(app.org_id, job_id)
        if job["callback"]["status"] != "pending":
            return job
        await worker.tick()
    raise AssertionError(f"callback still pending after {ticks} ticks: {job['callback']}")


async def test_callback_fails_twice_then_is_delivered(
    fast_callbacks: None, app: AgentBatch
) -> None:
    ids = await make_agents(app, 2)
    with Receiver([500, 500]) as receiver:
        created = await app.jobs.create_job(
            app.org_id,
            {
                "requests": [{"agent_id": a, "messages": "hello"} for a in ids],
                "callback_url": receiver.url,
                "metadata": {"batch": "nightly"},
            },
        )
        assert created["callback"] == {"status": "pending", "attempts": 0, "error": None}
        await app.run_job(created["id"], timeout_s=60)
        job = await settle_callbacks(app, created["id"])

    assert job["status"] == "completed"
    assert job["callback"] == {"status": "delivered", "attempts": 3, "error": None}
    assert len(receiver.calls) == 3
    for attempt, (headers, body) in enumerate(receiver.calls, 1):
        assert headers["content-type"] == "application/json"
        assert headers["x-agentbatch-event"] == "job.completed"
        assert headers["x-agentbatch-job"] == created["id"]
        assert headers["x-agentbatch-attempt"] == str(attempt)
        assert signature_ok(headers, body)
        assert verify_signature(SECRET, body, headers[SIGNATURE_HEADER.lower()])
        assert not verify_signature(SECRET, body + b" ", headers[SIGNATURE_HEADER.lower()])
        assert not verify_signature("wrong", body, headers[SIGNATURE_HEADER.lower()])
    payload = json.loads(receiver.calls[-1][1])
    assert payload["event"] == "job.completed"
    assert payload["job"]["id"] == created["id"]
    assert payload["job"]["runs"]["completed"] == 2
    assert payload["job"]["metadata"] == {"batch": "nightly"}
    assert "callback" not in payload["job"]


async def test_callback_gives_up_after_max_attempts(fast_callbacks: None, app: AgentBatch) -> None:
    ids = await make_agents(app, 1)
    with Receiver([500] * 10) as receiver:
        created = await app.jobs.create_job(
            app.org_id,
            {"requests": [{"agent_id": ids[0], "messages": "hi"}], "callback_url": receiver.url},
        )
        await app.run_job(created["id"], timeout_s=60)
        job = await settle_callbacks(app, created["id"])
        for _ in range(3):  # nothing more is sent once it failed
            await app.worker().tick()
    assert job["callback"] == {"status": "failed", "attempts": 3, "error": "HTTP 500"}
    assert len(receiver.calls) == 3


async def test_unreachable_receiver_is_an_attempt_with_its_error(
    fast_callbacks: None, app: AgentBatch
) -> None:
    ids = await make_agents(app, 1)
    with Receiver([]) as receiver:
        url = receiver.url  # closed when the block ends: nothing listens on the port
    created = await app.jobs.create_job(
        app.org_id, {"requests": [{"agent_id": ids[0], "messages": "hi"}], "callback_url": url}
    )
    await app.run_job(created["id"], timeout_s=60)
    job = await settle_callbacks(app, created["id"])
    assert job["callback"]["status"] == "failed"
    assert job["callback"]["attempts"] == 3
    assert "ConnectError" in job["callback"]["error"]


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    yield FakeClock()


async def test_backoff_schedule_and_a_crash_mid_delivery(app: AgentBatch, clock: FakeClock) -> None:
    """Cancelled jobs call back too; retries wait out the backoff; a delivery claimed by a
    worker that died is retried once its claim expires: a pending row is never lost."""
    settings = CallbackSettings(secret=SECRET, max_attempts=4, backoff_s=10, factor=4, claim_s=60)
    ctx = app.runtime(clock=clock)
    ids = await make_agents(app, 2)
    with Receiver([503]) as receiver:
        jobs = []
        for agent_id in ids:
            job = await app.jobs.create_job(
                app.org_id,
                {
                    "requests": [{"agent_id": agent_id, "messages": "x"}],
                    "callback_url": receiver.url,
                },
            )
            await app.jobs.cancel_job(app.org_id, job["id"])
            jobs.append(job["id"])
        # a worker claims the second job's delivery, then dies before sending it
        assert await claim(ctx, jobs[1], settings) == 1

        assert await callback_pass(ctx, settings) == 1  # first job: 503
        first = await app.jobs.get_job(app.org_id, jobs[0])
        assert first["callback"] == {"status": "pending", "attempts": 1, "error": "HTTP 503"}
        clock.advance(8)  # before the first backoff (10 s, +-10%)
        assert await callback_pass(ctx, settings) == 0
        clock.advance(4)
        assert await callback_pass(ctx, settings) == 1
        clock.advance(60)  # the dead worker's claim has expired
        assert await callback_pass(ctx, settings) == 1
        assert await callback_pass(ctx, settings) == 0

    assert [h["x-agentbatch-job"] for h, _ in receiver.calls] == [jobs[0], jobs[0], jobs[1]]
    assert {h["x-agentbatch-event"] for h, _ in receiver.calls} == {"job.cancelled"}
    for job_id, attempts in ((jobs[0], 2), (jobs[1], 1)):
        job = await app.jobs.get_job(app.org_id, job_id)
        assert job["callback"] == {"status": "delivered", "attempts": attempts, "error": None}
    assert [settings.delay(n) for n in (1, 2, 3)] == [10, 40, 160]
