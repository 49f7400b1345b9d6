"""The dashboard's pages: server-rendered (Jinja2) with one small script that refreshes
the live parts of a page (``?fragment=…``) every few seconds while work is running.

``/`` lists jobs; ``/ui/jobs/{id}``, ``/ui/runs/{id}``, ``/ui/agents[/{id}]`` and
``/ui/tools`` show one organisation's rows, the organisation of the logged-in key
(``/ui/login``); another organisation's ids are simply not found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from agentbatch import __version__
from agentbatch.api.dashboard import session
from agentbatch.api.dashboard.data import Pages
from agentbatch.api.dashboard.present import COLORS, STATUSES
from agentbatch.app import DEFAULT_ORG
from agentbatch.ids import iso
from agentbatch.pricing import cache_phrase, savings_notes

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"
Id = Annotated[str | None, Query(max_length=100)]
_env = Environment(
    loader=PackageLoader("agentbatch.api.dashboard", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["iso"] = lambda v: (iso(v) or "")[:19].replace("T", " ")
_env.filters["num"] = lambda v: f"{int(v or 0):,}"
_env.filters["usd"] = lambda v: f"${float(v or 0):,.4f}"
_env.filters["cache_phrase"] = cache_phrase
_env.filters["savings_notes"] = savings_notes
_env.filters["pretty"] = lambda v: _pretty(v)
_env.globals.update(version=__version__, colors=COLORS, statuses=STATUSES, default_org=DEFAULT_ORG)


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False)


def mount(app: Any) -> None:
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="dashboard-static")


def _pages(request: Request) -> Pages:
    pages: Pages | None = getattr(request.app.state, "dashboard", None)
    if pages is None:
        pages = request.app.state.dashboard = Pages(request.app.state.batch.db)
    return pages


async def _org(request: Request) -> str | None:
    mode = request.app.state.auth
    if not mode.enabled:
        return mode.default_org
    return await session.org_of(request.app.state.batch.db, request.cookies.get(session.COOKIE))


def _render(request: Request, name: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("auth", request.app.state.auth.enabled)
    html = _env.get_template(name).render(request=request, **context)
    return HTMLResponse(html, status_code=http_status, headers=_HEADERS)


_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
}


def _login_redirect(request: Request, fragment: str | None) -> Response:
    if fragment:
        return Response("login needed", status_code=401, headers={"X-Live": "0"})
    target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return RedirectResponse(f"/ui/login?next={target}", status_code=303)


def _not_found(request: Request, what: str) -> HTMLResponse:
    return _render(request, "error.html", 404, message=f"{what} not found")


@router.get("/ui/login")
async def login_form(
    request: Request, next: Annotated[str, Query(max_length=500)] = "/"
) -> Response:
    return _render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/ui/login")
async def login(request: Request) -> Response:
    body = await request.body()
    if len(body) > 4096:
        return _render(request, "login.html", 413, next="/", error="request too large")
    form = parse_qs(body.decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0]
    target = _safe_next((form.get("next") or ["/"])[0])
    cookie = await session.login(request.app.state.batch.db, key)
    if cookie is None:
        return _render(request, "login.html", 401, next=target, error="unknown or revoked API key")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        session.COOKIE,
        cookie,
        max_age=session.LIFETIME_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/ui/logout")
async def logout() -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(session.COOKIE, path="/")
    return response


def _safe_next(target: str) -> str:
    """Only a path on this site (never //host or a scheme)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/")
async def jobs_page(
    request: Request,
    before: Id = None,
    status: Annotated[
        str | None, Query(pattern="^(created|running|completed|failed|cancelled)$")
    ] = None,
    fragment: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    org = await _org(request)
    if org is None:
        return _login_redirect(request, fragment)
    data = await _pages(request).jobs(org, before=before, status=status)
    name = "jobs_table.html" if fragment else "jobs.html"
    response = _render(request, name, org=org, **data)
    response.headers["X-Live"] = "1" if data["live"] else "0"
    return response


@router.get("/ui/jobs/{job_id}")
async def job_page(
    request: Request,
    job_id: str,
    status: Annotated[str | None, Query(max_length=20)] = None,
    after: Id = None,
    before: Id = None,
    fragment: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    org = await _org(request)
    if org is None:
        return _login_redirect(request, fragment)
    pages = _pages(request)
    data = await pages.job(org, job_id[:100])
    if data is None:
        return _not_found(request, "job")
    runs = await pages.runs(
        data["job"].id,
        status=status if status in STATUSES else None,
        after=after,
        before=before,
    )
    name = {"summary": "job_summary.html", "runs": "job_runs.html"}.get(fragment or "", "job.html")
    response = _render(request, name, org=org, runs=runs, **data)
    response.headers["X-Live"] = "0" if data["terminal"] else "1"
    return response


@router.get("/ui/runs/{run_id}")
async def run_page(request: Request, run_id: str) -> Response:
    org = await _org(request)
    if org is None:
        return _login_redirect(request, None)
    data = await _pages(request).run(org, run_id[:100])
    if data is None:
        return _not_found(request, "run")
    return _render(request, "run.html", org=org, **data)


@router.get("/ui/agents")
async def agents_page(request: Request, after: Id = None) -> Response:
    org = await _org(request)
    if org is None:
        return _login_redirect(request, None)
    return _render(
        request, "agents.html", org=org, **await _pages(request).agents(org, after=after)
    )


@router.get("/ui/agents/{agent_id}")
async def agent_page(
    request: Request,
    agent_id: str,
    before: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    run: Id = None,
    fragment: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    org = await _org(request)
    if org is None:
        return _login_redirect(request, fragment)
    data = await _pages(request).agent(org, agent_id[:100], before=before, run_id=run)
    if data is None:
        return _not_found(request, "agent")
    name = "agent_live.html" if fragment else "agent.html"
    response = _render(request, name, org=org, **data)
    response.headers["X-Live"] = "1" if data["live"] and before is None else "0"
    return response


@router.get("/ui/tools")
async def tools_page(request: Request) -> Response:
    org = await _org(request)
    if org is None:
        return _login_redirect(request, None)
    return _render(request, "tools.html", org=org, **await _pages(request).tools(org))
