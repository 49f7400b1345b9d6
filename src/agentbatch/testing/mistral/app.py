"""Emulator of the Mistral Batch API (``/v1/batch/jobs``, inline or file input) and the
Files API it uses, reachable by the official ``mistralai`` SDK through
``Mistral(server_url=srv.url)``.

Answers come from the shared scripted model through the OpenAI emulator's chat-completions
answering, checked first for what Mistral itself refuses (:mod:`.dialect`). A job
advances when it is read: ``QUEUED`` -> ``RUNNING`` (a share answered per read for
``FaultPlan.polls_in_progress`` reads) -> ``SUCCESS``; ``cancel`` ends it ``CANCELLED``
and ``expire`` ``TIMEOUT_EXCEEDED`` on the next read, keeping what was answered.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from agentbatch.testing.bearer_gate import add_bearer_gate
from agentbatch.testing.faults import FaultPlan
from agentbatch.testing.mistral.dialect import mistral_problem, mistral_shape, openai_choice
from agentbatch.testing.mistral.objects import ENDED, Job
from agentbatch.testing.openai import OpenAIEmulator
from agentbatch.testing.openai.routes import parse_multipart
from agentbatch.testing.server import BackgroundServer


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {
        "object": "error",
        "message": message,
        "type": "invalid_request_error",
        "code": str(status),
    }
    return JSONResponse(body, status_code=status, headers=headers)


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
                    {**body, "tool_choice": openai_choice(body)}, custom_id
                )
            if isinstance(result, str):
                continue  # never ran (expired / cancelled): no line, as Mistral
            status, payload = result
            if status == 200:
                mistral_shape(payload)
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

        add_bearer_gate(
            app, lambda: self.faults, prefix="/v1/", unauthorized="Unauthorized", error=_error
        )

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
