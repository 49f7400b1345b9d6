"""Emulator of the Mistral Batch API (``/v1/batch/jobs``, inline or file input) and the
Files API it uses, reachable by the official ``mistralai`` SDK through
``Mistral(server_url=srv.url)``.

Answers come from the shared scripted model through the OpenAI emulator's chat-completions
answering, checked first for what Mistral itself refuses: tool-call ids that are not 9
characters ``[a-zA-Z0-9]``, OpenAI-only fields (``max_completion_tokens``,
``prompt_cache_key``), a ``tool_choice`` outside ``auto | none | any | required``. A job
advances when it is read: ``QUEUED`` -> ``RUNNING`` (a share answered per read for
``FaultPlan.polls_in_progress`` reads) -> ``SUCCESS``; ``cancel`` ends it ``CANCELLED``
and ``expire`` ``TIMEOUT_EXCEEDED`` on the next read, keeping what was answered.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import secrets
import string
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from agentbatch.testing.faults import FaultPlan
from agentbatch.testing.openai import OpenAIEmulator
from agentbatch.testing.openai.routes import parse_multipart
from agentbatch.testing.server import BackgroundServer

ENDED = ("SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED")
_ID = re.compile(r"^[a-zA-Z0-9]{9}$")
_ALNUM = string.ascii_letters + string.digits


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {
        "object": "error",
        "message": message,
        "type": "invalid_request_error",
        "code": str(status),
    }
    return JSONResponse(body, status_code=status, headers=headers)


def mistral_problem(body: dict[str, Any]) -> str | None:
    for name in ("max_completion_tokens", "prompt_cache_key"):
        if name in body:
            return f"Extra inputs are not permitted: body.{name}"
    choice = body.get("tool_choice")
    if isinstance(choice, str) and choice not in ("auto", "none", "any", "required"):
        return f"Invalid tool_choice: {choice}"
    for message in body.get("messages") or ():
        ids = [c.get("id") for c in message.get("tool_calls") or ()]
        if message.get("role") == "tool":
            ids.append(message.get("tool_call_id"))
        for call_id in ids:
            if not isinstance(call_id, str) or not _ID.match(call_id):
                return f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a length of 9."
    return None


@dataclass
class Job:
    id: str
    model: str
    items: list[tuple[str, dict[str, Any]]]
    input_files: list[str]
    metadata: dict[str, Any] | None
    created_at: int
    polls_left: int
    status: str = "QUEUED"
    done: int = 0
    outputs: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    cancel_asked: bool = False
    force_expire: bool = False
    output_file: str | None = None
    error_file: str | None = None
    completed_at: int | None = None
    usage: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})

    def to_dict(self, inline: bool = False) -> dict[str, Any]:
        ok = sum(1 for o in self.outputs if (o.get("response") or {}).get("status_code") == 200)
        out: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "input_files": self.input_files,
            "metadata": self.metadata,
            "endpoint": "/v1/chat/completions",
            "model": self.model,
            "output_file": self.output_file,
            "error_file": self.error_file,
            "errors": [],
            "status": self.status,
            "created_at": self.created_at,
            "total_requests": len(self.items),
            "completed_requests": len(self.outputs) + len(self.errors),
            "succeeded_requests": ok,
            "failed_requests": len(self.outputs) + len(self.errors) - ok,
            "started_at": self.created_at,
            "completed_at": self.completed_at,
        }
        if inline:
            out["outputs"] = self.outputs + self.errors
        return out


class MistralEmulator:
    """``with MistralEmulator(script).serve() as srv:`` then ``Mistral(server_url=srv.url)``."""

    def __init__(self, script: list[Any] | None = None, faults: FaultPlan | None = None) -> None:
        self.faults = faults if faults is not None else FaultPlan()
        self.chat = OpenAIEmulator(script, self.faults)  # the answering engine
        self.files: dict[str, tuple[str, bytes]] = {}
        self.jobs: dict[str, Job] = {}
        self.lock = self.chat.state.lock
        self.app = self._build()

    @property
    def script(self) -> list[dict[str, Any]]:
        return self.chat.script

    @script.setter
    def script(self, script: list[Any]) -> None:
        self.chat.script = script

    def expire(self, job_id: str) -> None:
        with self.lock:
            self.jobs[job_id].force_expire = True

    def serve(self, port: int | None = None) -> BackgroundServer:
        return BackgroundServer(self.app, port=port).start()

    # -- lifecycle -------------------------------------------------------------------------

    def _advance(self, job: Job) -> None:
        with self.lock:
            if job.status in ENDED:
                return
            if job.force_expire:
                return self._finish(job, "TIMEOUT_EXCEEDED")
            if job.cancel_asked:
                return self._finish(job, "CANCELLED")
            job.status = "RUNNING"
            if job.polls_left > 0:
                self._process(job, math.ceil((len(job.items) - job.done) / (job.polls_left + 1)))
                job.polls_left -= 1
            else:
                self._process(job, len(job.items))
                self._finish(job, "SUCCESS")

    def _process(self, job: Job, count: int) -> None:
        for custom_id, body in job.items[job.done : job.done + count]:
            line: dict[str, Any] = {"id": f"batch-{uuid.uuid4()}", "custom_id": custom_id}
            body = {"model": job.model, **body}
            problem = mistral_problem(body)
            if problem:
                result: Any = (
                    400,
                    {"object": "error", "message": problem, "type": "invalid_request_error"},
                )
            else:
                result = self.chat.state.respond(
                    {**body, "tool_choice": _openai_choice(body)}, custom_id
                )
            if isinstance(result, str):
                continue  # never ran (expired / cancelled): no line, as Mistral
            status, payload = result
            if status == 200:
                _mistral_ids(payload)
                job.usage["prompt"] += payload["usage"]["prompt_tokens"]
                job.usage["completion"] += payload["usage"]["completion_tokens"]
                line |= {"response": {"status_code": 200, "body": payload}, "error": None}
                job.outputs.append(line)
            else:
                line |= {"response": {"status_code": status, "body": payload}, "error": None}
                job.errors.append(line)
        job.done = min(len(job.items), job.done + count)

    def _finish(self, job: Job, status: str) -> None:
        job.status = status
        job.completed_at = int(time.time())
        for kind, lines in (("output", job.outputs), ("error", job.errors)):
            if lines:
                file_id = str(uuid.uuid4())
                self.files[file_id] = (
                    f"{job.id}_{kind}.jsonl",
                    "".join(json.dumps(x) + "\n" for x in lines).encode(),
                )
                setattr(job, f"{kind}_file", file_id)

    # -- app -------------------------------------------------------------------------------

    def _build(self) -> FastAPI:
        app = FastAPI(
            title="Mistral batch emulator", openapi_url=None, docs_url=None, redoc_url=None
        )

        @app.middleware("http")
        async def _gate(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            if not request.url.path.startswith("/v1/"):
                return await call_next(request)
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                return _error(401, "Unauthorized")
            if self.faults.delay_s > 0:
                await asyncio.sleep(self.faults.delay_s)
            fault = self.faults.take_http_fault(request.method, request.url.path)
            if fault is not None:
                headers = (
                    {"retry-after": f"{fault.retry_after:g}"}
                    if fault.retry_after is not None
                    else None
                )
                return _error(fault.status, fault.message, headers)
            return await call_next(request)

        @app.post("/v1/files")
        async def upload(request: Request) -> JSONResponse:
            fields, files = parse_multipart(
                request.headers.get("content-type", ""), await request.body()
            )
            if "file" not in files:
                return _error(422, "Field required: file")
            file_id = str(uuid.uuid4())
            name, data = files["file"]
            with self.lock:
                self.files[file_id] = (name, data)
            return JSONResponse(
                {
                    "id": file_id,
                    "object": "file",
                    "bytes": len(data),
                    "created_at": int(time.time()),
                    "filename": name,
                    "purpose": fields.get("purpose", "batch"),
                    "sample_type": "batch_request",
                    "source": "upload",
                    "num_lines": data.count(b"\n"),
                    "mimetype": "application/jsonl",
                    "signature": None,
                }
            )

        @app.get("/v1/files/{file_id}/content")
        async def download(file_id: str) -> Response:
            stored = self.files.get(file_id)
            if stored is None:
                return _error(404, f"File {file_id} not found")
            return Response(stored[1], media_type="application/octet-stream")

        @app.delete("/v1/files/{file_id}")
        async def delete(file_id: str) -> JSONResponse:
            with self.lock:
                if self.files.pop(file_id, None) is None:
                    return _error(404, f"File {file_id} not found")
            return JSONResponse({"id": file_id, "object": "file", "deleted": True})

        @app.post("/v1/batch/jobs")
        async def create(request: Request) -> JSONResponse:
            try:
                body = await request.json()
            except ValueError:
                return _error(400, "Invalid JSON body")
            items: list[tuple[str, dict[str, Any]]] = []
            inputs = list(body.get("input_files") or [])
            for entry in body.get("requests") or ():
                items.append(
                    (str(entry.get("custom_id") or len(items)), dict(entry.get("body") or {}))
                )
            for file_id in inputs:
                stored = self.files.get(file_id)
                if stored is None:
                    return _error(404, f"File {file_id} not found")
                for raw in stored[1].splitlines():
                    if raw.strip():
                        entry = json.loads(raw)
                        items.append((str(entry.get("custom_id")), dict(entry.get("body") or {})))
            if not items:
                return _error(400, "A batch job needs requests or input_files")
            with self.lock:
                job = Job(
                    str(uuid.uuid4()),
                    str(body.get("model") or ""),
                    items,
                    inputs,
                    body.get("metadata"),
                    int(time.time()),
                    self.faults.polls_in_progress,
                )
                self.jobs[job.id] = job
                return JSONResponse(job.to_dict())

        @app.get("/v1/batch/jobs")
        async def list_jobs(page: int = 0, page_size: int = 100) -> JSONResponse:
            with self.lock:
                ordered = sorted(self.jobs.values(), key=lambda j: j.created_at, reverse=True)
                data = [j.to_dict() for j in ordered[page * page_size : (page + 1) * page_size]]
            return JSONResponse({"object": "list", "total": len(ordered), "data": data})

        @app.get("/v1/batch/jobs/{job_id}")
        async def get(job_id: str, inline: bool = False) -> JSONResponse:
            job = self.jobs.get(job_id)
            if job is None:
                return _error(404, f"Batch job {job_id} not found")
            self._advance(job)
            with self.lock:
                return JSONResponse(job.to_dict(inline=inline))

        @app.post("/v1/batch/jobs/{job_id}/cancel")
        async def cancel(job_id: str) -> JSONResponse:
            job = self.jobs.get(job_id)
            if job is None:
                return _error(404, f"Batch job {job_id} not found")
            with self.lock:
                if job.status in ENDED:
                    return _error(400, f"Batch job is already {job.status}")
                job.cancel_asked = True
                job.status = "CANCELLATION_REQUESTED"
                return JSONResponse(job.to_dict())

        return app


def _openai_choice(body: dict[str, Any]) -> Any:
    choice = body.get("tool_choice")
    return "required" if choice == "any" else choice


def _mistral_ids(payload: dict[str, Any]) -> None:
    """Mistral's own shape: 9-character call ids, usage without OpenAI's details."""
    usage = payload["usage"]
    payload["usage"] = {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    for choice in payload.get("choices") or ():
        for call in (choice.get("message") or {}).get("tool_calls") or ():
            call["id"] = "".join(secrets.choice(_ALNUM) for _ in range(9))


def main(port: int = 8092, script_path: str | None = None, host: str = "127.0.0.1") -> None:
    """Serve the emulator in the foreground (``agentbatch emulate mistral --port P``)."""
    import uvicorn

    script: list[Any] = []
    if script_path:
        with open(script_path, encoding="utf-8") as fh:
            script = json.load(fh)
    uvicorn.run(MistralEmulator(script).app, host=host, port=port, log_level="warning")
