"""The dashboard in a real browser: agents and a job created through the API, the job
page watched to completion while it refreshes itself, a failed run and an agent's
transcript opened from it, and what each page shows compared with the database.
Screenshots of the job and agent pages are saved. Another organisation's key sees none
of it."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from agentbatch.app import AgentBatch
from agentbatch.store.tables import block_history, messages, provider_batches, runs
from tests.conftest import fast_settings
from tests.e2e.dashboard_support import create_job, wait_done
from tests.e2e.http_support import mint_keys, serve

pytestmark = pytest.mark.browser
TIMEOUT_MS = 60_000


def _off_loop(fn: Any, *args: Any) -> Any:
    """Playwright's sync API keeps an event loop on this thread: asyncio work (the store)
    runs in another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


async def _read(url: str, job_id: str, agent_id: str) -> dict[str, Any]:
    ab = await AgentBatch.open(url)
    try:
        async with ab.db.read() as conn:
            counts = dict(
                (
                    await conn.execute(
                        select(runs.c.status, func.count())
                        .where(runs.c.job_id == job_id)
                        .group_by(runs.c.status)
                    )
                ).all()
            )
            failed = (
                await conn.execute(
                    select(runs.c.id, runs.c.last_error, runs.c.error_kind)
                    .where(runs.c.job_id == job_id, runs.c.status == "failed")
                    .order_by(runs.c.id)
                )
            ).all()
            externals = {
                r[0]
                for r in await conn.execute(
                    select(provider_batches.c.external_id).where(
                        provider_batches.c.job_id == job_id
                    )
                )
            }
            history = (
                await conn.execute(
                    select(messages.c.id, messages.c.kind)
                    .where(messages.c.agent_id == agent_id)
                    .order_by(messages.c.id)
                )
            ).all()
            block = await ab.agents.get_agent("acme", agent_id)
            versions = (
                await conn.execute(
                    select(func.count())
                    .select_from(block_history)
                    .where(block_history.c.block_id == block["blocks"][0]["id"])
                )
            ).scalar_one()
    finally:
        await ab.close()
    return {
        "counts": counts,
        "failed": failed,
        "externals": externals,
        "history": history,
        "block": block["blocks"][0],
        "versions": versions,
    }


def _login(context: Any, base: str, key: str) -> Any:
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(base + "/")
    assert "/ui/login" in page.url  # not logged in: the login page
    page.fill("#key", key)
    page.click("#login")
    page.wait_for_url(base + "/")
    return page


def test_watch_a_job_to_completion(chromium: Any, screenshots: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}"
    key_a, key_b = _off_loop(mint_keys, url, "acme", "globex")
    # each provider batch takes a few polls: the job runs for a few seconds
    settings = fast_settings(poll_interval_s=0.25, max_attempts=2, chunk_size=50)
    with serve(url, settings=settings) as srv:
        api = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key_a}"})
        job_id, good, bad = create_job(api, ok=24, failing=6, polls=8)

        context = chromium.new_context(viewport={"width": 1280, "height": 820})
        page = _login(context, srv.url, key_a)
        page.wait_for_selector(f'tr[data-job="{job_id}"]')
        page.click(f'a[href="/ui/jobs/{job_id}"]')
        page.wait_for_selector("#job-id")
        assert page.get_attribute("#job-status", "data-status") in ("created", "running")
        page.evaluate("window.__same_page = true")  # a reload would drop this
        page.wait_for_selector('#job-status[data-status="completed"]', timeout=TIMEOUT_MS)
        assert page.evaluate("window.__same_page") is True  # updated in place, live
        assert int(page.get_attribute("body", "data-refreshes") or 0) >= 1
        page.wait_for_function("document.body.dataset.live === '0'")
        job = wait_done(api, job_id)
        db = _off_loop(lambda: asyncio.run(_read(url, job_id, good[0])))

        shown = {
            li.get_attribute("data-status"): int(li.inner_text().split()[-1].replace(",", ""))
            for li in page.query_selector_all("#run-counts li")
        }
        assert (
            {s: n for s, n in shown.items() if n} == db["counts"] == {"completed": 24, "failed": 6}
        )
        assert page.inner_text("#finished-pct") == "100.0%"
        groups = page.query_selector_all("#failures tbody tr")
        assert len(groups) == 1  # one error, grouped
        assert groups[0].query_selector(".n").inner_text() == str(len(db["failed"]))
        assert db["failed"][0].last_error in groups[0].query_selector(".err").inner_text()
        shown_ext = {e.inner_text() for e in page.query_selector_all("#batches code.ext")}
        assert shown_ext == db["externals"] and len(shown_ext) == sum(
            job["provider_batches"].values()
        )
        tokens = page.inner_text('#tokens [data-total="input"]').replace(",", "")
        assert int(tokens) == job["usage"]["input_tokens"]
        page.screenshot(path=str(screenshots / "job.png"), full_page=True)
        page.screenshot(path=str(screenshots / "job-top.png"))  # the README's size

        # a failed run, opened from the failure group's examples
        page.click("#failures a.failed-run")
        page.wait_for_selector("#run-error")
        run_id = page.inner_text("#run-id")
        failed = {r.id: r for r in db["failed"]}
        assert run_id in failed
        assert page.inner_text("#run-error") == failed[run_id].last_error
        assert page.inner_text("#error-kind") == failed[run_id].error_kind
        page.screenshot(path=str(screenshots / "run.png"), full_page=True)

        # an agent's transcript, opened from the runs table
        page.goto(f"{srv.url}/ui/jobs/{job_id}?status=completed")
        page.click(f'#runs-table a[href^="/ui/agents/{good[0]}"]')
        page.wait_for_selector("#transcript")
        items = page.query_selector_all("#transcript li.msg")
        assert [int(i.get_attribute("data-id")) for i in items] == [r.id for r in db["history"]]
        assert [i.get_attribute("data-kind") for i in items] == [r.kind for r in db["history"]]
        assert (
            page.query_selector_all("#transcript .tool-call b")[0].inner_text()
            == "core_memory_append"
        )
        assert "worth remembering" in (page.text_content("#transcript details.reasoning pre") or "")
        block = page.query_selector(f'[data-block="{db["block"]["id"]}"]')
        assert block.query_selector(".block-value").inner_text() == db["block"]["value"]
        edits = block.query_selector_all("li.edit")
        assert len(edits) == db["versions"] == 3  # created, appended, replaced
        assert (block.query_selector("li.edit ins").text_content() or "").strip() == "really"
        page.screenshot(path=str(screenshots / "agent.png"), full_page=True)
        page.screenshot(path=str(screenshots / "agent-top.png"))

        # the jobs list, with the ended job
        page.goto(srv.url + "/")
        assert page.get_attribute(f'tr[data-job="{job_id}"]', "data-status") == "completed"
        page.screenshot(path=str(screenshots / "jobs.png"), full_page=True)
        page.screenshot(path=str(screenshots / "jobs-top.png"))
        context.close()

        # another organisation sees nothing of it
        other = chromium.new_context()
        page = _login(other, srv.url, key_b)
        assert job_id not in page.content()
        assert "No jobs yet" in page.inner_text("main")
        for path in (f"/ui/jobs/{job_id}", f"/ui/runs/{run_id}", f"/ui/agents/{good[0]}"):
            response = page.goto(srv.url + path)
            assert response is not None and response.status == 404, path
            assert not re.search(r"green tea|really likes", page.content())
        page.goto(srv.url + "/ui/agents")
        assert good[0] not in page.content() and bad[0] not in page.content()
        other.close()
