"""A small client for the HTTP API, on httpx: ``Client`` (sync) and ``AsyncClient``.

    with Client("http://127.0.0.1:8000", api_key="abk_...") as c:
        agent = c.create_agent({"name": "a", "model": "anthropic/claude-sonnet-4-5"})
        job = c.create_job({"requests": [{"agent_id": agent["id"], "messages": "hi"}]})
        job = c.wait_job(job["id"])
        for message in c.iter_messages(job["id"]):
            print(message["kind"], message["content"])

Both clients expose the same methods (the async ones return awaitables). Responses are
the JSON documents of the API; an error response raises ``ApiError``, which carries the
status and the API's error ``code``, ``message`` and ``details``."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx

from agentbatch.client_schedules import ScheduleEndpoints, _p, _params
from agentbatch.errors import AgentBatchError

R = TypeVar("R")
DEFAULT_URL = "http://127.0.0.1:8000"
TERMINAL = frozenset({"completed", "failed", "cancelled"})


class ApiError(AgentBatchError):
    def __init__(self, status_code: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details


def _check(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json() if response.content else None
    try:
        error = response.json()["error"]
        code, message, details = str(error["code"]), str(error["message"]), error.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = "http_error", response.text[:500], None
    raise ApiError(response.status_code, code, message, details)


def _headers(api_key: str | None) -> dict[str, str]:
    key = api_key if api_key is not None else os.environ.get("AGENTBATCH_API_KEY")
    return {"Authorization": f"Bearer {key}"} if key else {}


class _Endpoints(ScheduleEndpoints[R]):
    """Every endpoint once; ``_call`` is sync or async in the subclasses."""

    def health(self) -> R:
        return self._call("GET", "/v1/health")

    # agents and blocks
    def create_agent(self, spec: dict[str, Any]) -> R:
        return self._call("POST", "/v1/agents", json=spec)

    def get_agent(self, agent_id: str) -> R:
        return self._call("GET", f"/v1/agents/{_p(agent_id)}")

    def list_agents(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        tags: list[str] | None = None,
    ) -> R:
        """Agents in id order; with ``tags``, those carrying every one of them."""
        params = _params(limit=limit, cursor=cursor, tag=tags or None)
        return self._call("GET", "/v1/agents", params=params)

    def delete_agent(self, agent_id: str) -> R:
        return self._call("DELETE", f"/v1/agents/{_p(agent_id)}")

    def import_agent_file(
        self, agent_file: dict[str, Any], *, model: str | None = None, strict: bool = False
    ) -> R:
        """Import a Letta Agent File (the decoded JSON); returns the import report."""
        params = _params(model=model, strict="true" if strict else None)
        return self._call("POST", "/v1/agents/import", json=agent_file, params=params)

    def export_agents(self, agent_ids: list[str]) -> R:
        """These agents as one Letta Agent File."""
        return self._call("POST", "/v1/agents/export", json={"agent_ids": agent_ids})

    def create_block(self, spec: dict[str, Any]) -> R:
        return self._call("POST", "/v1/blocks", json=spec)

    def get_block(self, block_id: str) -> R:
        return self._call("GET", f"/v1/blocks/{_p(block_id)}")

    def list_blocks(
        self, *, label: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> R:
        params = _params(label=label, limit=limit, cursor=cursor)
        return self._call("GET", "/v1/blocks", params=params)

    def update_block(self, block_id: str, changes: dict[str, Any]) -> R:
        return self._call("PATCH", f"/v1/blocks/{_p(block_id)}", json=changes)

    def delete_block(self, block_id: str) -> R:
        return self._call("DELETE", f"/v1/blocks/{_p(block_id)}")

    # tools
    def create_tool(self, spec: dict[str, Any]) -> R:
        return self._call("POST", "/v1/tools", json=spec)

    def get_tool(self, name: str) -> R:
        return self._call("GET", f"/v1/tools/{_p(name)}")

    def list_tools(self) -> R:
        return self._call("GET", "/v1/tools")

    def delete_tool(self, name: str) -> R:
        return self._call("DELETE", f"/v1/tools/{_p(name)}")

    # jobs
    def create_job(self, spec: dict[str, Any]) -> R:
        return self._call("POST", "/v1/jobs", json=spec)

    def estimate_job(self, spec: dict[str, Any]) -> R:
        """The first step's input tokens and cost; nothing is created or sent."""
        return self._call("POST", "/v1/jobs/estimate", json=spec)

    def get_job(self, job_id: str) -> R:
        return self._call("GET", f"/v1/jobs/{_p(job_id)}")

    def list_jobs(
        self, *, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> R:
        params = _params(status=status, limit=limit, cursor=cursor)
        return self._call("GET", "/v1/jobs", params=params)

    def cancel_job(self, job_id: str) -> R:
        return self._call("POST", f"/v1/jobs/{_p(job_id)}/cancel")

    def list_runs(
        self,
        job_id: str,
        *,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> R:
        params = _params(status=status, limit=limit, cursor=cursor)
        return self._call("GET", f"/v1/jobs/{_p(job_id)}/runs", params=params)

    def list_messages(
        self,
        job_id: str,
        *,
        agent_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> R:
        params = _params(agent_id=agent_id, limit=limit, cursor=cursor)
        return self._call("GET", f"/v1/jobs/{_p(job_id)}/messages", params=params)


class Client(_Endpoints[Any]):
    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url or os.environ.get("AGENTBATCH_URL") or DEFAULT_URL,
            headers=_headers(api_key),
            timeout=timeout,
            transport=transport,
        )

    def _call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        return _check(self._http.request(method, path, json=json, params=params))

    def wait_job(
        self, job_id: str, *, timeout_s: float = 600.0, poll_s: float = 0.5
    ) -> dict[str, Any]:
        """Poll until the job ends; TimeoutError when it has not after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            job: dict[str, Any] = self.get_job(job_id)
            if job["status"] in TERMINAL:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout_s}s")
            time.sleep(poll_s)

    def iter_messages(
        self, job_id: str, *, agent_id: str | None = None, page_size: int = 500
    ) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            page = self.list_messages(job_id, agent_id=agent_id, limit=page_size, cursor=cursor)
            yield from page["data"]
            if not page["has_more"]:
                return
            cursor = page["next_cursor"]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_Endpoints[Awaitable[Any]]):
    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url or os.environ.get("AGENTBATCH_URL") or DEFAULT_URL,
            headers=_headers(api_key),
            timeout=timeout,
            transport=transport,
        )

    async def _call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        return _check(await self._http.request(method, path, json=json, params=params))

    async def wait_job(
        self, job_id: str, *, timeout_s: float = 600.0, poll_s: float = 0.5
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            job: dict[str, Any] = await self.get_job(job_id)
            if job["status"] in TERMINAL:
                return job
            if loop.time() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout_s}s")
            await asyncio.sleep(poll_s)

    async def iter_messages(
        self, job_id: str, *, agent_id: str | None = None, page_size: int = 500
    ) -> AsyncIterator[dict[str, Any]]:
        cursor = None
        while True:
            page = await self.list_messages(
                job_id, agent_id=agent_id, limit=page_size, cursor=cursor
            )
            for message in page["data"]:
                yield message
            if not page["has_more"]:
                return
            cursor = page["next_cursor"]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
