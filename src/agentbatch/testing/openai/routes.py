"""``/v1`` routes of the OpenAI emulator: files, batches, chat completions."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from agentbatch.testing.openai.objects import error_body
from agentbatch.testing.openai.state import EmulatorState

ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions")
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
_NAME = re.compile(r'(?:^|;)\s*name="([^"]*)"')
_FILENAME = re.compile(r'filename="([^"]*)"')


def _bad(
    message: str, param: str | None = None, code: str | None = None, status: int = 400
) -> JSONResponse:
    return JSONResponse(error_body(status, message, param=param, code=code), status_code=status)


def _missing(param: str) -> JSONResponse:
    return _bad(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """Form fields and files of a ``multipart/form-data`` body (no extra dependency)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ValueError("multipart body without a boundary")
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in body.split(b"--" + match.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, sep, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            continue
        data = data.removesuffix(b"\r\n")
        disposition = next(
            (
                line
                for line in head.decode("latin-1").split("\r\n")
                if line.lower().startswith("content-disposition")
            ),
            "",
        )
        name = _NAME.search(disposition)
        if not name:
            continue
        filename = _FILENAME.search(disposition)
        if filename:
            files[name.group(1)] = (filename.group(1), data)
        else:
            fields[name.group(1)] = data.decode("utf-8", "replace")
    return fields, files


async def _json(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _bad(
            "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload."
        )
    return body


def _metadata_problem(metadata: Any) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or len(metadata) > 16:
        return "'metadata' must be an object with at most 16 keys."
    for key, value in metadata.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            return (
                "metadata keys are strings of at most 64 characters, values strings of at most 512."
            )
    return None


def register(app: FastAPI, state: EmulatorState) -> None:
    @app.post("/v1/files")
    async def create_file(request: Request) -> JSONResponse:
        try:
            fields, files = parse_multipart(
                request.headers.get("content-type", ""), await request.body()
            )
        except ValueError as exc:
            return _bad(str(exc))
        if "file" not in files:
            return _missing("file")
        purpose = fields.get("purpose")
        if not purpose:
            return _missing("purpose")
        if purpose not in PURPOSES:
            return _bad(f"Invalid value for 'purpose': '{purpose}'.", "purpose", "invalid_value")
        filename, content = files["file"]
        if purpose == "batch":
            if not filename.endswith(".jsonl"):
                return _bad("Invalid file format for Batch API. Must be .jsonl", "file")
            try:
                content.decode("utf-8")
            except UnicodeDecodeError:
                return _bad(
                    "Invalid file format for Batch API: the file is not UTF-8 text.", "file"
                )
        return JSONResponse(state.add_file(filename, purpose, content).to_dict())

    @app.get("/v1/files")
    async def list_files(purpose: str | None = None) -> JSONResponse:
        with state.lock:
            data = [f.to_dict() for f in state.files.values() if purpose in (None, f.purpose)]
        return JSONResponse({"object": "list", "data": data, "has_more": False})

    def _no_file(file_id: str) -> JSONResponse:
        return _bad(f"No such File object: {file_id}", "id", status=404)

    @app.get("/v1/files/{file_id}")
    async def retrieve_file(file_id: str) -> JSONResponse:
        stored = state.files.get(file_id)
        return JSONResponse(stored.to_dict()) if stored else _no_file(file_id)

    @app.get("/v1/files/{file_id}/content", response_model=None)
    async def file_content(file_id: str) -> Response:
        stored = state.files.get(file_id)
        if stored is None:
            return _no_file(file_id)
        return Response(stored.content, media_type="application/octet-stream")

    @app.delete("/v1/files/{file_id}")
    async def delete_file(file_id: str) -> JSONResponse:
        with state.lock:
            if state.files.pop(file_id, None) is None:
                return _no_file(file_id)
        return JSONResponse({"id": file_id, "object": "file", "deleted": True})

    @app.post("/v1/batches")
    async def create_batch(request: Request) -> JSONResponse:
        body = await _json(request)
        if isinstance(body, JSONResponse):
            return body
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not body.get(name):
                return _missing(name)
        endpoint = body["endpoint"]
        if endpoint not in ENDPOINTS:
            allowed = ", ".join(f"'{e}'" for e in ENDPOINTS)
            return _bad(
                f"Invalid value: '{endpoint}'. Supported values are: {allowed}.",
                "endpoint",
                "invalid_value",
            )
        if body["completion_window"] != "24h":
            return _bad(
                f"Invalid value: '{body['completion_window']}'. Supported values are: '24h'.",
                "completion_window",
                "invalid_value",
            )
        problem = _metadata_problem(body.get("metadata"))
        if problem:
            return _bad(problem, "metadata", "invalid_value")
        stored = state.files.get(str(body["input_file_id"]))
        if stored is None:
            return _bad(
                f"No such File object: {body['input_file_id']}", "input_file_id", status=404
            )
        if stored.purpose != "batch":
            return _bad("The input file must be uploaded with purpose 'batch'.", "input_file_id")
        batch = state.create_batch(stored, endpoint, body.get("metadata"))
        return JSONResponse(batch.to_dict())

    @app.get("/v1/batches")
    async def list_batches(after: str | None = None, limit: str = "20") -> JSONResponse:
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            return _bad(
                "Invalid 'limit': must be an integer between 1 and 100.", "limit", "invalid_value"
            )
        with state.lock:
            ordered = list(reversed(state.batches.values()))  # newest first
            start = 0
            if after is not None:
                ids = [b.id for b in ordered]
                start = ids.index(after) + 1 if after in ids else len(ids)
            page = ordered[start : start + int(limit)]
            data = [b.to_dict() for b in page]
            has_more = start + int(limit) < len(ordered)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": has_more,
            }
        )

    def _no_batch(batch_id: str) -> JSONResponse:
        return _bad(f"No batch found with id '{batch_id}'.", status=404)

    @app.get("/v1/batches/{batch_id}")
    async def retrieve_batch(batch_id: str) -> JSONResponse:
        batch = state.batches.get(batch_id)
        if batch is None:
            return _no_batch(batch_id)
        state.advance(batch)
        with state.lock:
            return JSONResponse(batch.to_dict())

    @app.post("/v1/batches/{batch_id}/cancel")
    async def cancel_batch(batch_id: str) -> JSONResponse:
        batch = state.batches.get(batch_id)
        if batch is None:
            return _no_batch(batch_id)
        if not state.cancel(batch):
            return _bad(f"Cannot cancel a batch with status '{batch.status}'.", status=400)
        with state.lock:
            return JSONResponse(batch.to_dict())

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        body = await _json(request)
        if isinstance(body, JSONResponse):
            return body
        result = state.respond(body, "")
        if isinstance(result, str):
            return JSONResponse(
                error_body(500, f"request not answered ({result})"), status_code=500
            )
        status, payload = result
        return JSONResponse(payload, status_code=status)
