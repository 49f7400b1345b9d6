"""Callbacks: no request to a loopback, private, link-local or metadata address (in any
spelling), the checked address is the one connected to, no redirect is followed, and the
receiver's answer is never stored."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from agentbatch.app import AgentBatch
from agentbatch.errors import InvalidInput
from agentbatch.guarded_http import DestinationRefused, GuardedTransport
from agentbatch.net_guard import AddressPolicy
from agentbatch.runtime.callbacks import CallbackSettings, callback_pass
from agentbatch.services.jobs import JobService
from tests.helpers import make_agents

SETTINGS = CallbackSettings(max_attempts=3, backoff_s=0)
ONE_ATTEMPT = CallbackSettings(max_attempts=1)


class Listener:
    """Records every request on 127.0.0.1; answers ``status`` with a secret body."""

    def __init__(self, status: int = 200, location: str | None = None) -> None:
        self.requests: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                listener.requests.append(self.path)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.end_headers()
                self.wfile.write(b"INTERNAL-SECRET-BODY")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    with Listener() as running:
        yield running


def private_urls(port: int) -> list[str]:
    hosts = [
        "127.0.0.1",
        "127.1",
        "0x7f000001",
        "2130706433",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "0.0.0.0",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::]",
        "localhost",
        "LOCALHOST.",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "[::ffff:169.254.169.254]",
        "[fd00:ec2::254]",
        "[fe80::1]",
        "[fc00::1]",
        "[2002:7f00:1::]",
        "[64:ff9b::7f00:1]",
        "224.0.0.1",
        "255.255.255.255",
        "240.0.0.1",
    ]
    return [f"http://{host}:{port}/hook" for host in hosts]


async def test_private_callback_urls_are_refused_when_the_job_is_created(
    app: AgentBatch, listener: Listener
) -> None:
    [agent] = await make_agents(app, 1)
    for url in private_urls(listener.port):
        with pytest.raises(InvalidInput, match=r"callback_url: .* not allowed"):
            await app.jobs.create_job(
                app.org_id,
                {"requests": [{"agent_id": agent, "messages": "x"}], "callback_url": url},
            )
    assert listener.requests == []


async def test_callback_to_a_private_address_is_refused_without_a_request(
    app: AgentBatch, listener: Listener
) -> None:
    """Jobs that reached the outbox with private URLs (created under a laxer policy, or a
    name that resolves to a private address) are refused when delivered."""
    lax = JobService(app.db, app.registry, callback_policy=AddressPolicy(allow_private=True))
    urls = [*private_urls(listener.port), f"http://{socket.gethostname()}:{listener.port}/h"]
    agents = await make_agents(app, len(urls))
    jobs = []
    for agent, url in zip(agents, urls, strict=True):
        job = await lax.create_job(
            app.org_id, {"requests": [{"agent_id": agent, "messages": "x"}], "callback_url": url}
        )
        await app.jobs.cancel_job(app.org_id, job["id"])  # ended: its callback is due
        jobs.append(job["id"])

    ctx = app.runtime()
    while await callback_pass(ctx, SETTINGS, policy=AddressPolicy()):
        pass

    assert listener.requests == []  # nothing was sent anywhere
    for job_id, url in zip(jobs, urls, strict=True):
        callback = (await app.jobs.get_job(app.org_id, job_id))["callback"]
        assert callback["status"] == "failed", (url, callback)
        assert callback["attempts"] == 1, (url, callback)  # a refusal is final
        assert callback["error"].startswith("refused: "), (url, callback)


async def test_callback_follows_no_redirect_and_stores_no_body(app: AgentBatch) -> None:
    allowed = AddressPolicy(["127.0.0.1/32"])  # the operator's allow-list
    [agent] = await make_agents(app, 1)
    with (
        Listener(302, location="http://169.254.169.254/latest/meta-data/") as redirecting,
        Listener(500) as failing,
    ):
        results = []
        creator = JobService(app.db, app.registry, callback_policy=allowed)
        for receiver in (redirecting, failing):
            job = await creator.create_job(
                app.org_id,
                {
                    "requests": [{"agent_id": agent, "messages": "x"}],
                    "callback_url": f"http://127.0.0.1:{receiver.port}/hook",
                },
            )
            await app.jobs.cancel_job(app.org_id, job["id"])
            await callback_pass(app.runtime(), ONE_ATTEMPT, policy=allowed)
            results.append((await app.jobs.get_job(app.org_id, job["id"]))["callback"])

    assert len(redirecting.requests) == 1 and len(failing.requests) == 1
    assert results[0]["error"] == "HTTP 302"
    assert results[1]["error"] == "HTTP 500"
    assert "SECRET" not in json.dumps(results)


async def test_the_checked_address_is_the_one_connected_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name resolves once; the request goes to that address, with the
    name in the Host header (and as the TLS server name)."""
    answers = iter(["93.184.215.14", "127.0.0.1"])  # public first, loopback after

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        address = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    transport = GuardedTransport(AddressPolicy(), httpx.MockTransport(record))
    async with httpx.AsyncClient(transport=transport) as client:
        first = await client.post("https://hooks.example.com/cb", content=b"{}")
        with pytest.raises(DestinationRefused):  # the second answer is refused, not sent
            await client.post("https://hooks.example.com/cb", content=b"{}")

    assert first.status_code == 204 and len(seen) == 1
    assert seen[0].url.host == "93.184.215.14"
    assert seen[0].headers["host"] == "hooks.example.com"
    assert seen[0].extensions["sni_hostname"] == "hooks.example.com"
