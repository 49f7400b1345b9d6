"""The Gemini emulator's API routes: ``batchGenerateContent`` (inline requests or an
uploaded JSONL file), batches (list, get, cancel, delete) and the Files API (resumable
upload, get, download of generated files, delete); errors as Google's ``{"error": ...}``."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from agentbatch.testing.google.objects import ENDED
from agentbatch.testing.google.state import GoogleState

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


def register(app: FastAPI, state: GoogleState, inline_max_bytes: Callable[[], int]) -> None:
    """Add the batch and file routes; ``inline_max_bytes`` gives the current create limit."""
    _batch_routes(app, state, inline_max_bytes)
    _file_routes(app, state)


def _batch_routes(app: FastAPI, state: GoogleState, inline_max_bytes: Callable[[], int]) -> None:
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
            limit = inline_max_bytes()
            if len(raw) > limit:
                return error(400, f"Request payload size exceeds the limit: {limit} bytes.")
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


def _file_routes(app: FastAPI, state: GoogleState) -> None:
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
        return JSONResponse({"file": stored.to_dict()}, headers={"x-goog-upload-status": "final"})

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
