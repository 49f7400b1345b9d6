"""The Anthropic emulator's HTTP surface (FastAPI): the Message Batches endpoints under
``/v1``, with the API's headers, status codes and error bodies, plus ``/_emulator`` admin
endpoints (no auth) to replace the script or the fault plan at run time.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from agentbatch.testing.anthropic.blocks import Invalid
from agentbatch.testing.anthropic.store import Batch, page
from agentbatch.testing.anthropic.validation import check_create
from agentbatch.testing.faults import ContentFault, FaultPlan, HttpFault

if TYPE_CHECKING:
    from agentbatch.testing.anthropic.emulator import AnthropicEmulator

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
PREFIX = "/v1/messages/batches"


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def build_app(emu: AnthropicEmulator) -> FastAPI:
    app = FastAPI(title="Anthropic Message Batches emulator", openapi_url=None, docs_url=None)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        kind = ERROR_TYPES.get(
            exc.status, "api_error" if exc.status >= 500 else "invalid_request_error"
        )
        body = {
            "type": "error",
            "error": {"type": kind, "message": exc.message},
            "request_id": emu.new_id("req"),
        }
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    @app.middleware("http")
    async def _gate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path.startswith("/v1/"):
            try:
                await _check_gate(emu, request)
            except ApiError as exc:
                return await _api_error(request, exc)
        response = await call_next(request)
        response.headers.setdefault("request-id", emu.new_id("req"))
        return response

    @app.post(PREFIX)
    async def create(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > emu.max_body_bytes:
            raise ApiError(413, f"Request exceeds the maximum size of {emu.max_body_bytes} bytes")
        raw = await request.body()
        if len(raw) > emu.max_body_bytes:
            raise ApiError(413, f"Request exceeds the maximum size of {emu.max_body_bytes} bytes")
        try:
            requests = await asyncio.to_thread(_parse_create, raw, emu.max_requests)
        except ValueError as exc:
            raise ApiError(400, f"Request body is not valid JSON: {exc}") from exc
        except Invalid as exc:
            raise ApiError(400, str(exc)) from exc
        batch = await asyncio.to_thread(emu.create_batch, requests)
        return JSONResponse(batch.to_json(_base(request), emu.clock()))

    @app.get(PREFIX)
    async def list_batches(request: Request) -> JSONResponse:
        q = request.query_params
        try:
            limit = int(q.get("limit", "20"))
        except ValueError as exc:
            raise ApiError(400, "limit: Input should be a valid integer") from exc
        if not 1 <= limit <= 1000:
            raise ApiError(400, "limit: Input should be between 1 and 1000")
        if q.get("after_id") and q.get("before_id"):
            raise ApiError(400, "Only one of before_id and after_id may be given")
        now = emu.clock()
        with emu.lock:
            for b in emu.batches.values():
                b.tick(now)
            try:
                data, more = page(
                    list(emu.batches.values()),
                    limit=limit,
                    after_id=q.get("after_id"),
                    before_id=q.get("before_id"),
                )
            except KeyError as exc:
                raise ApiError(400, f"Invalid pagination cursor: {exc.args[0]}") from exc
            rows = [b.to_json(_base(request), now) for b in data]
        return JSONResponse(
            {
                "data": rows,
                "has_more": more,
                "first_id": rows[0]["id"] if rows else None,
                "last_id": rows[-1]["id"] if rows else None,
            }
        )

    @app.get(PREFIX + "/{batch_id}")
    async def retrieve(batch_id: str, request: Request) -> JSONResponse:
        now = emu.clock()
        with emu.lock:
            batch = _get(emu, batch_id)
            batch.on_retrieve(now)
            return JSONResponse(batch.to_json(_base(request), now))

    @app.post(PREFIX + "/{batch_id}/cancel")
    async def cancel(batch_id: str, request: Request) -> JSONResponse:
        now = emu.clock()
        with emu.lock:
            batch = _get(emu, batch_id)
            batch.cancel(now)
            return JSONResponse(batch.to_json(_base(request), now))

    @app.delete(PREFIX + "/{batch_id}")
    async def delete(batch_id: str) -> JSONResponse:
        with emu.lock:
            batch = _get(emu, batch_id)
            batch.tick(emu.clock())
            if batch.processing_status != "ended":
                raise ApiError(
                    400,
                    f"Message Batch {batch_id} cannot be deleted while it is processing; cancel it first",
                )
            del emu.batches[batch_id]
        return JSONResponse({"id": batch_id, "type": "message_batch_deleted"})

    @app.get(PREFIX + "/{batch_id}/results")
    async def results(batch_id: str) -> StreamingResponse:
        now = emu.clock()
        with emu.lock:
            batch = _get(emu, batch_id)
            batch.tick(now)
            if batch.processing_status != "ended":
                raise ApiError(404, f"Results for Message Batch {batch_id} are not available yet")
            if batch.archived_at(now) is not None:
                raise ApiError(404, f"Results for Message Batch {batch_id} have been archived")
        return StreamingResponse(_jsonl(batch), media_type="application/binary")

    @app.post("/v1/messages")
    async def create_message(request: Request) -> JSONResponse:
        try:
            params = json.loads(await request.body())
        except ValueError as exc:
            raise ApiError(400, f"Request body is not valid JSON: {exc}") from exc
        if not isinstance(params, dict):
            raise ApiError(400, "The request body must be an object")
        result = await asyncio.to_thread(emu.create_message, params)
        if result["type"] == "succeeded":
            return JSONResponse(result["message"])
        if result["type"] == "errored":
            error = result["error"]["error"]
            status = 400 if error["type"] == "invalid_request_error" else 500
            raise ApiError(status, error["message"])
        raise ApiError(529, f"request {result['type']}: the service is overloaded")

    @app.put("/_emulator/script")
    async def put_script(request: Request) -> JSONResponse:
        try:
            emu.script = await request.json()
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc
        return JSONResponse({"steps": len(emu.script)})

    @app.put("/_emulator/faults")
    async def put_faults(request: Request) -> JSONResponse:
        try:
            emu.faults = fault_plan_from_json(await request.json())
        except (ValueError, TypeError) as exc:
            raise ApiError(400, f"invalid fault plan: {exc}") from exc
        return JSONResponse({"ok": True})

    return app


async def _check_gate(emu: AnthropicEmulator, request: Request) -> None:
    if emu.faults.delay_s > 0:
        await asyncio.sleep(emu.faults.delay_s)
    fault = emu.faults.take_http_fault(request.method, request.url.path)
    if fault is not None:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["retry-after"] = str(math.ceil(fault.retry_after))
            headers["retry-after-ms"] = str(int(fault.retry_after * 1000))
        raise ApiError(fault.status, fault.message, headers)
    key = request.headers.get("x-api-key")
    bearer = request.headers.get("authorization", "")
    if not key and bearer[:7].lower() == "bearer ":
        key = bearer[7:].strip()  # newer SDKs send the API key as a bearer token
    if not key:
        raise ApiError(401, "x-api-key header is required")
    if emu.api_key is not None and key != emu.api_key:
        raise ApiError(401, "invalid x-api-key")
    if not request.headers.get("anthropic-version"):
        raise ApiError(400, "anthropic-version: header is required")


def _parse_create(raw: bytes, max_requests: int) -> list[Mapping[str, Any]]:
    return check_create(json.loads(raw), max_requests)


def _get(emu: AnthropicEmulator, batch_id: str) -> Batch:
    batch = emu.batches.get(batch_id)
    if batch is None:
        raise ApiError(404, f"Message Batch {batch_id} not found")
    return batch


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _jsonl(batch: Batch) -> AsyncIterator[bytes]:
    chunk: list[str] = []
    for line in batch.shuffled_results():
        chunk.append(json.dumps(line, ensure_ascii=False) + "\n")
        if len(chunk) >= 500:
            yield "".join(chunk).encode()
            chunk = []
    if chunk:
        yield "".join(chunk).encode()


def fault_plan_from_json(data: Any) -> FaultPlan:
    """A FaultPlan from its JSON form (the fields of :class:`FaultPlan`)."""
    if not isinstance(data, dict):
        raise ValueError("a fault plan must be an object")
    return FaultPlan(
        http=[HttpFault(**f) for f in data.get("http", [])],
        delay_s=float(data.get("delay_s", 0.0)),
        polls_in_progress=int(data.get("polls_in_progress", 0)),
        item_outcomes=dict(data.get("item_outcomes", {})),
        content_outcomes=[ContentFault(**f) for f in data.get("content_outcomes", [])],
    )
