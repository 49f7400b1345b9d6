"""The gate in front of the API routes of an emulator whose provider takes a bearer key
(Mistral, OpenRouter): a request without ``Authorization: Bearer <key>`` (any key) is a
401; then the ``FaultPlan`` applies, ``delay_s`` first, then any matching ``HttpFault``
(answered with ``retry-after`` when it has one). Other paths pass untouched."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from agentbatch.testing.faults import FaultPlan

ErrorResponse = Callable[[int, str, dict[str, str] | None], Response]


def add_bearer_gate(
    app: FastAPI,
    faults: Callable[[], FaultPlan],
    *,
    prefix: str,
    unauthorized: str,
    error: ErrorResponse,
) -> None:
    """Gate the routes under ``prefix``; ``error(status, message, headers)`` answers."""

    @app.middleware("http")
    async def _gate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if not request.url.path.startswith(prefix):
            return await call_next(request)
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return error(401, unauthorized, None)
        plan = faults()
        if plan.delay_s > 0:
            await asyncio.sleep(plan.delay_s)
        fault = plan.take_http_fault(request.method, request.url.path)
        if fault is not None:
            headers = (
                {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            )
            return error(fault.status, fault.message, headers)
        return await call_next(request)
