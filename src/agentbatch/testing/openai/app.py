"""The OpenAI Files + Batches (+ chat completions) emulator as a FastAPI app.

Reachable by the official SDK with ``base_url=f"{srv.url}/v1"``. Every ``/v1`` route needs
``Authorization: Bearer <key>`` (any key, or the one given). Faults from the ``FaultPlan``
apply to ``/v1`` routes: ``delay_s`` first, then any matching ``HttpFault`` (429 carries
``retry-after``). ``/_emulator/*`` routes (no auth, no faults) let the CLI and tests change
the script and faults, expire a batch, and read counters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentbatch.providers.scripted_model import validate_script
from agentbatch.testing.faults import FaultPlan, HttpFault
from agentbatch.testing.openai import routes
from agentbatch.testing.openai.objects import error_body
from agentbatch.testing.openai.state import EmulatorState
from agentbatch.testing.server import BackgroundServer

logger = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"


def _error(
    status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(status, message, code=code), status_code=status, headers=headers)


class OpenAIEmulator:
    """``with OpenAIEmulator(script).serve() as srv:`` then point the SDK at ``srv.url + "/v1"``.

    ``max_bytes`` / ``max_requests`` are the input-file limits (200 MB / 50,000 by
    default; lower them in tests). ``api_key``, when set, is the only key accepted.
    """

    def __init__(
        self,
        script: list[Any] | None = None,
        faults: FaultPlan | None = None,
        *,
        api_key: str | None = None,
        max_bytes: int = 200 * 1024 * 1024,
        max_requests: int = 50_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.faults = faults if faults is not None else FaultPlan()
        self.api_key = api_key
        self.state = EmulatorState(
            validate_script(script or []), self.faults, clock, max_bytes, max_requests
        )
        self.app = self._build()

    @property
    def script(self) -> list[dict[str, Any]]:
        return self.state.script

    @script.setter
    def script(self, script: list[Any]) -> None:
        self.state.script = validate_script(script)

    @property
    def max_concurrent_chat(self) -> int:
        """The most ``/v1/chat/completions`` calls ever in flight at once."""
        return self.state.max_chat_in_flight

    @property
    def chat_calls(self) -> int:
        return self.state.chat_calls

    def expire(self, batch_id: str) -> None:
        """Make the batch end ``expired`` on its next retrieve."""
        self.state.expire(self.state.batches[batch_id])

    def serve(self, port: int | None = None) -> BackgroundServer:
        """Start serving on 127.0.0.1; use as ``with emulator.serve() as srv: srv.url``."""
        return BackgroundServer(self.app, port=port).start()

    def set_faults(self, data: dict[str, Any]) -> None:
        """Replace the fault plan's settings in place (the JSON form ``PUT /_emulator/faults`` takes)."""
        self.faults.replace(data)

    # -- app -------------------------------------------------------------------------------

    def _build(self) -> FastAPI:
        app = FastAPI(
            title="OpenAI batch emulator", openapi_url=None, docs_url=None, redoc_url=None
        )

        @app.exception_handler(StarletteHTTPException)
        async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
            if exc.status_code == 404:
                return _error(404, f"Invalid URL ({request.method} {request.url.path})")
            return _error(exc.status_code, str(exc.detail))

        @app.middleware("http")
        async def _gate(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            path = request.url.path
            if not path.startswith("/v1/"):
                return await call_next(request)
            problem = self._auth_problem(request.headers.get("authorization"))
            if problem:
                return _error(
                    401, problem, code="invalid_api_key" if "Incorrect" in problem else None
                )
            is_chat = path == CHAT_PATH
            if is_chat:
                self._chat_started()
            try:
                if self.faults.delay_s > 0:
                    await asyncio.sleep(self.faults.delay_s)
                fault = self.faults.take_http_fault(request.method, path)
                if fault is not None:
                    return self._fault_response(fault)
                return await call_next(request)
            finally:
                if is_chat:
                    with self.state.lock:
                        self.state.chat_in_flight -= 1

        routes.register(app, self.state)
        self._admin(app)
        return app

    def _chat_started(self) -> None:
        with self.state.lock:
            self.state.chat_calls += 1
            self.state.chat_in_flight += 1
            self.state.max_chat_in_flight = max(
                self.state.max_chat_in_flight, self.state.chat_in_flight
            )

    def _auth_problem(self, header: str | None) -> str | None:
        scheme, _, key = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        if self.api_key is not None and key.strip() != self.api_key:
            return "Incorrect API key provided."
        return None

    @staticmethod
    def _fault_response(fault: HttpFault) -> JSONResponse:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
            headers["retry-after-ms"] = str(int(fault.retry_after * 1000))
        code = "rate_limit_exceeded" if fault.status == 429 else None
        return _error(fault.status, fault.message, code=code, headers=headers)

    def _admin(self, app: FastAPI) -> None:
        @app.put("/_emulator/script")
        async def _set_script(request: Request) -> JSONResponse:
            try:
                self.script = await request.json()
            except ValueError as exc:
                return _error(400, str(exc))
            return JSONResponse({"steps": len(self.script)})

        @app.put("/_emulator/faults")
        async def _set_faults(request: Request) -> JSONResponse:
            try:
                self.set_faults(await request.json())
            except (ValueError, TypeError, AttributeError) as exc:
                return _error(400, f"invalid fault plan: {exc}")
            return JSONResponse({"ok": True})

        @app.post("/_emulator/batches/{batch_id}/expire")
        async def _expire(batch_id: str) -> JSONResponse:
            if batch_id not in self.state.batches:
                return _error(404, f"No batch found with id '{batch_id}'.")
            self.expire(batch_id)
            return JSONResponse({"ok": True})

        @app.get("/_emulator/stats")
        async def _stats() -> JSONResponse:
            with self.state.lock:
                return JSONResponse(
                    {
                        "chat_calls": self.state.chat_calls,
                        "max_concurrent_chat": self.state.max_chat_in_flight,
                        "batches": len(self.state.batches),
                        "files": len(self.state.files),
                    }
                )
