"""The Gemini Batch Mode emulator (``batchGenerateContent``, batches, the Files API with
resumable uploads) as a FastAPI app, reachable by the official ``google-genai`` SDK through
``HttpOptions(base_url=srv.url, api_version="v1beta")`` (or ``GOOGLE_GEMINI_BASE_URL``).

Every ``/v1beta`` and ``/upload`` route needs an API key (``x-goog-api-key`` or ``?key=``):
none is a 403 ``PERMISSION_DENIED``, a wrong one (when ``api_key`` is set) a 400
``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID``, as Google answers. Faults from the
``FaultPlan`` apply to those routes (a 429 carries ``retry-after`` and a ``RetryInfo``);
``/_emulator/*`` routes (no auth, no faults) change the script and faults and expire jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from agentbatch.providers.scripted_model import validate_script
from agentbatch.testing.faults import FaultPlan, HttpFault
from agentbatch.testing.google import routes
from agentbatch.testing.google.routes import error
from agentbatch.testing.google.state import GoogleState
from agentbatch.testing.server import BackgroundServer

INLINE_MAX_BYTES = 20 * 1024 * 1024


class GoogleEmulator:
    """``with GoogleEmulator(script).serve() as srv:`` then point the SDK at ``srv.url``.

    ``inline_max_bytes``: the largest create body with inlined requests (20 MB).
    ``api_key``: when set, the only key accepted. ``clock``: aware datetimes (48 h expiry).
    """

    def __init__(
        self,
        script: list[Any] | None = None,
        faults: FaultPlan | None = None,
        *,
        api_key: str | None = None,
        inline_max_bytes: int = INLINE_MAX_BYTES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.faults = faults if faults is not None else FaultPlan()
        self.api_key = api_key
        self.inline_max_bytes = inline_max_bytes
        self.state = GoogleState(validate_script(script or []), self.faults, clock)
        self.app = self._build()

    @property
    def script(self) -> list[dict[str, Any]]:
        return self.state.script

    @script.setter
    def script(self, script: list[Any]) -> None:
        self.state.script = validate_script(script)

    def expire(self, name: str) -> None:
        """Make the job end ``EXPIRED`` on its next read (as past its 48 hours)."""
        with self.state.lock:
            self.state.jobs[name].force_expire = True

    def serve(self, port: int | None = None) -> BackgroundServer:
        return BackgroundServer(self.app, port=port).start()

    # -- app -------------------------------------------------------------------------------

    def _build(self) -> FastAPI:
        app = FastAPI(
            title="Gemini batch emulator", openapi_url=None, docs_url=None, redoc_url=None
        )

        @app.middleware("http")
        async def _gate(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            path = request.url.path
            if not (path.startswith("/v1beta/") or path.startswith("/upload/")):
                return await call_next(request)
            key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
            session = path.startswith("/upload/") and "upload_id" in request.query_params
            if not key and not session:  # a resumable upload's session URL is its credential
                return error(
                    403,
                    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                )
            if self.api_key is not None and key and key != self.api_key:
                return error(
                    400,
                    "API key not valid. Please pass a valid API key.",
                    details=[
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com",
                        }
                    ],
                )
            if self.faults.delay_s > 0:
                await asyncio.sleep(self.faults.delay_s)
            fault = self.faults.take_http_fault(request.method, path)
            if fault is not None:
                return self._fault(fault)
            return await call_next(request)

        routes.register(app, self.state, lambda: self.inline_max_bytes)
        self._admin(app)
        return app

    @staticmethod
    def _fault(fault: HttpFault) -> JSONResponse:
        headers: dict[str, str] = {}
        details: list[Any] = []
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{fault.retry_after:g}s",
                }
            )
        return error(fault.status, fault.message, details=details, headers=headers)

    def _admin(self, app: FastAPI) -> None:
        @app.put("/_emulator/script")
        async def _script(request: Request) -> JSONResponse:
            try:
                self.script = await request.json()
            except ValueError as exc:
                return error(400, str(exc))
            return JSONResponse({"steps": len(self.script)})

        @app.put("/_emulator/faults")
        async def _faults(request: Request) -> JSONResponse:
            try:
                self.faults.replace(await request.json())
            except (ValueError, TypeError, AttributeError) as exc:
                return error(400, f"invalid fault plan: {exc}")
            return JSONResponse({"ok": True})

        @app.post("/_emulator/batches/{bid}/expire")
        async def _expire(bid: str) -> JSONResponse:
            if f"batches/{bid}" not in self.state.jobs:
                return error(404, f"Batch batches/{bid} not found.")
            self.expire(f"batches/{bid}")
            return JSONResponse({"ok": True})
