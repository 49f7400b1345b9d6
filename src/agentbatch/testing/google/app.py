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
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from agentbatch.providers.scripted_model import validate_script
from agentbatch.testing.faults import FaultPlan, HttpFault
from agentbatch.testing.google.state import ENDED, GoogleState
from agentbatch.testing.server import BackgroundServer

log = logging.getLogger(__name__)

STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
INLINE_MAX_BYTES = 20 * 1024 * 1024


def error(
    code: int,
    message: str,
    *,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN")}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=code, headers=headers)


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

        self._batch_routes(app)
        self._file_routes(app)
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

    def _batch_routes(self, app: FastAPI) -> None:
        state = self.state

        @app.post("/v1beta/models/{target}")
        async def create(target: str, request: Request) -> JSONResponse:
            model, _, method = target.partition(":")
            if method != "batchGenerateContent":
                return error(
                    404,
                    f"Method {method or target} not found (this emulator serves batchGenerateContent).",
                )
            raw = await request.body()
            try:
                body = json.loads(raw)
            except ValueError:
                return error(400, "Invalid JSON payload received.")
            batch = body.get("batch") if isinstance(body, dict) else None
            config = (batch or {}).get("inputConfig") or (batch or {}).get("input_config") or {}
            requests = (config.get("requests") or {}).get("requests")
            file_name = config.get("fileName") or config.get("file_name")
            if requests is not None:
                if len(raw) > self.inline_max_bytes:
                    return error(
                        400,
                        f"Request payload size exceeds the limit: {self.inline_max_bytes} bytes.",
                    )
                items = []
                for i, entry in enumerate(requests):
                    metadata = entry.get("metadata")
                    key = (metadata or {}).get("key") or f"#{i}"
                    items.append((str(key), entry.get("request") or {}, metadata))
                inline = True
            elif file_name:
                stored = state.files.get(str(file_name))
                if stored is None:
                    return error(404, f"File {file_name} not found.")
                items, problem = _file_items(stored.content)
                if problem:
                    return error(400, problem)
                inline = False
            else:
                return error(
                    400,
                    "* BatchGenerateContentRequest.batch.input_config: input_config is required",
                )
            job = state.create_job(
                f"models/{model}", str((batch or {}).get("displayName") or ""), items, inline
            )
            log.info(
                "gemini emulator: batch created",
                extra={"batch_id": job.name, "requests": len(items)},
            )
            with state.lock:
                return JSONResponse(job.to_operation())

        @app.get("/v1beta/batches")
        async def list_jobs(pageSize: int = 10, pageToken: str = "") -> JSONResponse:
            size = max(1, min(pageSize, 1000))
            with state.lock:
                ordered = sorted(state.jobs.values(), key=lambda j: j.created, reverse=True)
                start = int(pageToken) if pageToken.isdigit() else 0
                page = [j.to_operation() for j in ordered[start : start + size]]
                out: dict[str, Any] = {"operations": page}
                if start + size < len(ordered):
                    out["nextPageToken"] = str(start + size)
            return JSONResponse(out)

        @app.get("/v1beta/batches/{bid}")
        async def get(bid: str) -> JSONResponse:
            job = state.jobs.get(f"batches/{bid}")
            if job is None:
                return error(404, f"Batch batches/{bid} not found.")
            state.advance(job)
            with state.lock:
                return JSONResponse(job.to_operation())

        @app.post("/v1beta/batches/{target}")
        async def cancel(target: str) -> JSONResponse:
            bid, _, method = target.partition(":")
            job = state.jobs.get(f"batches/{bid}")
            if method != "cancel":
                return error(404, f"Method {method} not found.")
            if job is None:
                return error(404, f"Batch batches/{bid} not found.")
            if not state.cancel(job):
                return error(
                    400, f"Batch is in a terminal state ({job.state}) and cannot be cancelled."
                )
            return JSONResponse({})

        @app.delete("/v1beta/batches/{bid}")
        async def delete(bid: str) -> JSONResponse:
            with state.lock:
                job = state.jobs.get(f"batches/{bid}")
                if job is None:
                    return error(404, f"Batch batches/{bid} not found.")
                if job.state not in ENDED:
                    return error(400, "Only a batch in a terminal state can be deleted.")
                del state.jobs[job.name]
            return JSONResponse({})

    def _file_routes(self, app: FastAPI) -> None:
        state = self.state

        @app.post("/upload/v1beta/files")
        async def upload(request: Request) -> Response:
            command = request.headers.get("x-goog-upload-command", "")
            upload_id = request.query_params.get("upload_id")
            if upload_id is None:
                if "start" not in command:
                    return error(400, "This emulator takes resumable uploads only.")
                try:
                    meta = (await request.json()).get("file") or {}
                except ValueError:
                    meta = {}
                new_id = secrets.token_hex(8)
                with state.lock:
                    state.uploads[new_id] = {
                        "meta": meta,
                        "data": bytearray(),
                        "mime": request.headers.get(
                            "x-goog-upload-header-content-type", "application/octet-stream"
                        ),
                    }
                url = f"{request.base_url}upload/v1beta/files?upload_id={new_id}&upload_protocol=resumable"
                return JSONResponse(
                    {}, headers={"x-goog-upload-url": url, "x-goog-upload-status": "active"}
                )
            with state.lock:
                pending = state.uploads.get(upload_id)
            if pending is None:
                return error(404, "Unknown upload.")
            offset = int(request.headers.get("x-goog-upload-offset", "0"))
            data = await request.body()
            if offset != len(pending["data"]):
                return error(400, "Upload offset does not match the bytes received.")
            pending["data"].extend(data)
            if "finalize" not in command:
                return JSONResponse({}, headers={"x-goog-upload-status": "active"})
            with state.lock:
                state.uploads.pop(upload_id, None)
            meta = pending["meta"]
            stored = state.add_file(
                str(meta.get("displayName") or ""),
                str(meta.get("mimeType") or pending["mime"]),
                bytes(pending["data"]),
            )
            return JSONResponse(
                {"file": stored.to_dict()}, headers={"x-goog-upload-status": "final"}
            )

        @app.get("/v1beta/files/{target}")
        async def get_file(target: str) -> Response:
            fid, _, method = target.partition(":")
            stored = state.files.get(f"files/{fid}")
            if stored is None:
                return error(404, f"File files/{fid} not found.")
            if method == "download":
                if stored.source != "GENERATED":
                    return error(400, "Only generated files can be downloaded.")
                return Response(stored.content, media_type="application/octet-stream")
            return JSONResponse(stored.to_dict())

        @app.delete("/v1beta/files/{fid}")
        async def delete_file(fid: str) -> JSONResponse:
            with state.lock:
                if state.files.pop(f"files/{fid}", None) is None:
                    return error(404, f"File files/{fid} not found.")
            return JSONResponse({})

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


def _file_items(
    content: bytes,
) -> tuple[list[tuple[str, dict[str, Any], dict[str, Any] | None]], str | None]:
    items: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    for number, raw in enumerate(content.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            return [], f"Invalid JSON in the input file at line {number}."
        if not isinstance(line, dict) or not isinstance(line.get("request"), dict):
            return [], f"Line {number} of the input file has no request."
        items.append((str(line.get("key") or f"#{number}"), line["request"], None))
    if not items:
        return [], "The input file is empty."
    return items, None


def main(port: int = 8091, script_path: str | None = None, host: str = "127.0.0.1") -> None:
    """Serve the emulator in the foreground (``agentbatch emulate google --port P``)."""
    import uvicorn

    script: list[Any] = []
    if script_path:
        with open(script_path, encoding="utf-8") as fh:
            script = json.load(fh)
    emulator = GoogleEmulator(script)
    log.info("Gemini emulator on http://%s:%d (GOOGLE_GEMINI_BASE_URL)", host, port)
    uvicorn.run(emulator.app, host=host, port=port, log_level="warning")
