"""Job callbacks: after a job ends, POST its summary to ``callback_url``, signed, retried.

The pass runs in the worker, after the status commit: a job row that ended with
``callback_status = 'pending'`` is the durable outbox. Each delivery first claims the row
(``callback_next_at`` moves ``claim_s`` ahead in a conditional UPDATE), so two workers
never deliver the same attempt at once, and a worker that dies mid-delivery only delays it:
the claim expires and another pass retries. Receivers may thus see a callback more than
once; ``X-AgentBatch-Job`` (and ``job.id`` in the body) is the idempotency key.

Request: ``POST callback_url`` with a JSON body ``{"event": "job.completed" | "job.failed"
| "job.cancelled", "job": {...same as GET /v1/jobs/{id}...}}`` plus Letta's fields
``job_id``, ``status``, ``completed_at`` and ``metadata``, and the headers
``X-AgentBatch-Event``, ``X-AgentBatch-Job``, ``X-AgentBatch-Attempt`` and, when
``AGENTBATCH_CALLBACK_SECRET`` is set (one secret for the deployment),
``X-AgentBatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``.

Any 2xx is delivered; anything else (3xx included, redirects are not followed), a timeout
or a connection error is retried after ``backoff_s * factor**(attempt-1)`` (±10% jitter),
up to ``max_attempts``; then the callback is ``failed`` with the last error on the job.

The receiver is a tenant's choice, so delivery goes through :class:`GuardedTransport`:
the host is resolved and refused when it is loopback, private, link-local, metadata,
multicast or reserved (``AGENTBATCH_CALLBACK_ALLOW`` lists CIDRs and hosts that may be
reached anyway; ``AGENTBATCH_CALLBACK_ALLOW_PRIVATE=1`` lifts the check for local
development), and the request goes to the address that was checked. A refused address
fails the callback at once, without a request. The job keeps only the status code or
the error's class (``HTTP 500``, ``ConnectError``, ``refused: loopback address``), never
the receiver's answer."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from agentbatch import __version__
from agentbatch.config import CallbackSettings
from agentbatch.guarded_http import DestinationRefused, GuardedTransport
from agentbatch.net_guard import AddressPolicy, BlockedAddress
from agentbatch.runtime.context import RuntimeContext
from agentbatch.services.jobs import JobService
from agentbatch.store import job_callbacks

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-AgentBatch-Signature"
EVENT_HEADER = "X-AgentBatch-Event"
JOB_HEADER = "X-AgentBatch-Job"
ATTEMPT_HEADER = "X-AgentBatch-Attempt"
_warned_unsigned = False


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, body: bytes, header: str, *, tolerance_s: float = 300.0, now: float | None = None
) -> bool:
    """For receivers: is ``header`` a valid signature of ``body``, made recently?"""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


async def claim(ctx: RuntimeContext, job_id: str, settings: CallbackSettings) -> int | None:
    """Take the row for one delivery; the attempt number, or None when it is not due."""
    now = ctx.clock()
    until = now + timedelta(seconds=settings.claim_s)
    return await ctx.db.transact(lambda conn: job_callbacks.claim(conn, job_id, now, until))


async def callback_pass(
    ctx: RuntimeContext,
    settings: CallbackSettings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    policy: AddressPolicy | None = None,
) -> int:
    """Deliver due callbacks; returns how many delivery attempts it made. ``policy``
    (default: the operator's settings) says which addresses may be reached; ``transport``
    is what the guard connects with."""
    settings = settings or ctx.settings.callbacks
    policy = policy or ctx.settings.security.callback_policy()
    async with ctx.db.read() as conn:
        job_ids = await job_callbacks.due(conn, ctx.clock(), settings.per_pass)
    claimed: list[tuple[str, int]] = []
    for job_id in job_ids:
        attempt = await claim(ctx, job_id, settings)
        if attempt is not None:
            claimed.append((job_id, attempt))
    if not claimed:
        return 0
    _warn_if_unsigned(settings)
    jobs = JobService(ctx.db, ctx.registry, clock=ctx.clock)
    timeout = httpx.Timeout(settings.timeout_s)
    async with httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        transport=GuardedTransport(policy, transport),
        trust_env=False,
    ) as client:
        await asyncio.gather(
            *(_deliver(ctx, jobs, client, j, n, settings, policy) for j, n in claimed)
        )
    return len(claimed)


def letta_fields(job: dict[str, Any]) -> dict[str, Any]:
    """Letta's callback payload, beside ours: code written for Letta reads these."""
    return {
        "job_id": job["id"],
        "status": job["status"],
        "completed_at": job.get("finished_at"),
        "metadata": job.get("metadata"),
    }


def _warn_if_unsigned(settings: CallbackSettings) -> None:
    global _warned_unsigned
    if settings.secret is None and not _warned_unsigned:
        _warned_unsigned = True
        log.warning("AGENTBATCH_CALLBACK_SECRET is not set: job callbacks are sent unsigned")


async def _post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    policy: AddressPolicy,
) -> tuple[str | None, bool]:
    """(None, _) when delivered, else (why not, whether retrying is pointless). The
    reason is a status code or an error class: never the receiver's answer, nor the
    details of a connection error (a port-scan oracle)."""
    try:  # spellings httpx itself may not parse (0177.0.0.1) are judged first
        policy.check_literal(urlsplit(url).hostname or "")
    except BlockedAddress as exc:
        return f"refused: {exc.reason} address", True
    except ValueError:
        return "InvalidURL", True
    try:
        async with client.stream("POST", url, content=body, headers=headers) as response:
            if response.is_success:
                return None, False
            return f"HTTP {response.status_code}", False  # the body is never read
    except DestinationRefused as exc:
        return f"refused: {exc.reason} address", True
    except httpx.InvalidURL:
        return "InvalidURL", True
    except httpx.HTTPError as exc:
        return type(exc).__name__, False


async def _deliver(
    ctx: RuntimeContext,
    jobs: JobService,
    client: httpx.AsyncClient,
    job_id: str,
    attempt: int,
    settings: CallbackSettings,
    policy: AddressPolicy,
) -> None:
    try:
        job = await jobs.get_job(None, job_id)
        job.pop("callback", None)
        event = f"job.{job['status']}"
        payload = {"event": event, "job": job, **letta_fields(job)}
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"agentbatch/{__version__}",
            EVENT_HEADER: event,
            JOB_HEADER: job_id,
            ATTEMPT_HEADER: str(attempt),
        }
        if settings.secret:
            headers[SIGNATURE_HEADER] = sign(settings.secret, body, int(ctx.clock().timestamp()))
        error, final = await _post(client, str(job["callback_url"]), body, headers, policy)
    except Exception as exc:  # one job's callback never breaks the pass
        log.exception("callback for job %s could not be sent", job_id)
        error, final = f"internal error: {type(exc).__name__}", False
    await _record(ctx, job_id, attempt, error, settings, final=final)


async def _record(
    ctx: RuntimeContext,
    job_id: str,
    attempt: int,
    error: str | None,
    settings: CallbackSettings,
    *,
    final: bool = False,
) -> None:
    now = ctx.clock()
    status, next_at = "pending", None
    if error is None:
        status = "delivered"
        log.info("callback for job %s delivered (attempt %d)", job_id, attempt)
    elif final or attempt >= settings.max_attempts:
        status = "failed"
        log.warning("callback for job %s failed after %d attempts: %s", job_id, attempt, error)
    else:
        delay = settings.delay(attempt, ctx.rng.uniform(0.9, 1.1))
        next_at = now + timedelta(seconds=delay)
        log.info(
            "callback for job %s attempt %d failed (%s); retry in %.0fs",
            job_id,
            attempt,
            error,
            delay,
        )
    await ctx.db.transact(
        lambda conn: job_callbacks.record(
            conn, job_id, attempt=attempt, error=error, status=status, next_at=next_at
        )
    )
