"""The dashboard over HTTP: login with an API key (a session cookie, not the key), pages
scoped to the key's organisation (another's ids are 404, its jobs invisible), what the
pages show matches the store, keyset pagination of runs, and live fragments."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from agentbatch.api.dashboard import session
from agentbatch.app import AgentBatch
from agentbatch.keys import revoke_key
from tests.conftest import fast_settings
from tests.e2e.dashboard_support import create_job, wait_done
from tests.e2e.http_support import mint_keys, serve


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'dash.db'}"


def _login(base: str, key: str) -> httpx.Client:
    browser = httpx.Client(base_url=base)
    response = browser.post("/ui/login", data={"key": key, "next": "/"})
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = browser.cookies[session.COOKIE]
    assert key not in cookie  # the browser holds a derived session, never the key
    set_cookie = response.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie
    return browser


def test_dashboard_pages_are_scoped_to_the_keys_organisation(url: str) -> None:
    key_a, key_b = mint_keys(url, "org-a", "org-b")
    with serve(url, settings=fast_settings(max_attempts=2)) as srv:
        api_a = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key_a}"})
        job_id, good, bad = create_job(api_a, ok=3, failing=2)
        job = wait_done(api_a, job_id)
        assert job["runs"]["completed"] == 3 and job["runs"]["failed"] == 2
        runs = api_a.get(f"/v1/jobs/{job_id}/runs").json()["data"]
        failed_run = next(r for r in runs if r["status"] == "failed")

        anonymous = httpx.Client(base_url=srv.url)
        response = anonymous.get(f"/ui/jobs/{job_id}")
        assert response.status_code == 303 and response.headers["location"].startswith("/ui/login")
        assert anonymous.get(f"/ui/jobs/{job_id}?fragment=summary").status_code == 401
        # the JSON API never takes the dashboard's cookie
        a = _login(srv.url, key_a)
        assert a.get(f"/v1/jobs/{job_id}").status_code == 401
        bad_login = anonymous.post("/ui/login", data={"key": "abk_not-a-key"})
        assert bad_login.status_code == 401 and session.COOKIE not in bad_login.cookies

        jobs = a.get("/")
        assert jobs.status_code == 200 and job_id in jobs.text
        page = a.get(f"/ui/jobs/{job_id}").text
        counts = dict(re.findall(r'<li data-status="(\w+)">.*?<b>([\d,]+)</b>', page))
        assert counts["completed"] == "3" and counts["failed"] == "2" and counts["queued"] == "0"
        assert failed_run["id"] in page  # failures grouped, with examples
        assert 'data-kind="provider_error"' in page
        run_page = a.get(f"/ui/runs/{failed_run['id']}").text
        assert "scripted failure (always)" in run_page
        agent_page = a.get(f"/ui/agents/{good[0]}").text
        assert "really likes green tea" in agent_page  # memory after the replace
        assert "<ins>really </ins>likes green tea" in agent_page  # the replace's diff

        b = _login(srv.url, key_b)
        empty = b.get("/").text
        assert job_id not in empty
        assert "agentbatch batches submit --org org-b" in empty  # how to fill this one
        for path in (
            f"/ui/jobs/{job_id}",
            f"/ui/runs/{failed_run['id']}",
            f"/ui/agents/{good[0]}",
            f"/ui/jobs/{job_id}?fragment=summary",
        ):
            assert b.get(path).status_code == 404, path
        assert good[0] not in b.get("/ui/agents").text
        assert "likes green tea" not in b.get("/ui/agents").text

        a.post("/ui/logout")
        assert a.get("/").status_code == 303
        # a revoked key's sessions stop working at once
        again = _login(srv.url, key_a)
        asyncio.run(_revoke(url, key_a))
        assert again.get("/").status_code == 303


async def _revoke(url: str, key: str) -> None:
    ab = await AgentBatch.open(url)
    try:
        await revoke_key(ab.db, key[:12])
    finally:
        await ab.close()


def test_runs_page_by_keyset_and_the_live_fragment(url: str) -> None:
    (key,) = mint_keys(url, "org-a")
    with serve(url) as srv:
        api = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"})
        job_id, good, _bad = create_job(api, ok=120, failing=0)
        wait_done(api, job_id)
        browser = _login(srv.url, key)
        seen: list[str] = []
        cursor = ""
        for _ in range(5):
            page = browser.get(f"/ui/jobs/{job_id}?fragment=runs{cursor}").text
            ids = re.findall(r'<tr data-run="([^"]+)"', page)
            seen.extend(ids)
            nxt = re.search(r'id="runs-next" href="[^"]*after=([^&"#]+)', page)
            if not nxt:
                break
            cursor = f"&after={nxt.group(1)}"
        assert len(seen) == 120 and len(set(seen)) == 120 and seen == sorted(seen)
        # backwards from the last page gives the page before it
        last = browser.get(f"/ui/jobs/{job_id}?fragment=runs&before={seen[100]}").text
        assert re.findall(r'<tr data-run="([^"]+)"', last) == seen[50:100]
        summary = browser.get(f"/ui/jobs/{job_id}?fragment=summary")
        assert summary.headers["x-live"] == "0"  # the job ended: the page stops refreshing
        assert "<html" not in summary.text
