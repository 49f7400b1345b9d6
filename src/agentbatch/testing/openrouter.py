"""Emulator of OpenRouter's Batch API (inline requests, chat-completions shape) under
``/api/v1``: create (``202``, ``validating``), get (``results`` once terminal), paged
results, list and delete; no cancel, as at OpenRouter. Answers come from the shared
scripted model through the OpenAI emulator's chat-completions answering. A batch advances
when it is read (``validating`` -> ``in_progress`` for ``FaultPlan.polls_in_progress``
reads -> ``completed``); ``expire`` ends it ``expired`` on the next read, keeping what was
answered (the rest gets an error line ``batch_expired``).
"""

from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from agentbatch.testing.bearer_gate import add_bearer_gate
from agentbatch.testing.faults import FaultPlan
from agentbatch.testing.openai import OpenAIEmulator
from agentbatch.testing.server import BackgroundServer

ENDED = ("completed", "failed", "expired", "cancelled")
PAGE = 50


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": status, "message": message}}, status_code=status, headers=headers
    )


@dataclass
class Batch:
    id: str
    model: str
    items: list[tuple[str, dict[str, Any]]]
    created_at: int
    polls_left: int
    status: str = "validating"
    done: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    force_expire: bool = False
    finalized_at: int | None = None

    def to_dict(self, with_results: bool = True) -> dict[str, Any]:
        ok = sum(
            1 for r in self.results if r.get("response") and r["response"]["status_code"] == 200
        )
        terminal = self.status in ENDED
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "model": self.model,
            "completion_window": "24h",
            "status": self.status,
            "provider": "emulated",
            "created_at": self.created_at,
            "expires_at": self.created_at + 24 * 3600,
            "finalized_at": self.finalized_at,
            "error": None,
            "request_counts": {
                "total": len(self.items),
                "completed": ok,
                "failed": len(self.results) - ok,
            },
            "results": self.results if terminal and with_results else None,
            "usage": None,
        }


class OpenRouterEmulator:
    """``with OpenRouterEmulator(script).serve() as srv:`` then base URL ``srv.url + "/api/v1"``."""

    def __init__(self, script: list[Any] | None = None, faults: FaultPlan | None = None) -> None:
        self.faults = faults if faults is not None else FaultPlan()
        self.chat = OpenAIEmulator(script, self.faults)
        self.batches: dict[str, Batch] = {}
        self.deleted: dict[str, Batch] = {}  # what DELETE removed, for tests to inspect
        self.lock = self.chat.state.lock
        self.app = self._build()

    @property
    def script(self) -> list[dict[str, Any]]:
        return self.chat.script

    @script.setter
    def script(self, script: list[Any]) -> None:
        self.chat.script = script

    def expire(self, batch_id: str) -> None:
        with self.lock:
            self.batches[batch_id].force_expire = True

    def serve(self, port: int | None = None) -> BackgroundServer:
        return BackgroundServer(self.app, port=port).start()

    def _advance(self, batch: Batch) -> None:
        with self.lock:
            if batch.status in ENDED:
                return
            if batch.force_expire:
                return self._finish(batch, "expired")
            batch.status = "in_progress"
            if batch.polls_left > 0:
                self._process(
                    batch, math.ceil((len(batch.items) - batch.done) / (batch.polls_left + 1))
                )
                batch.polls_left -= 1
            else:
                self._process(batch, len(batch.items))
                self._finish(batch, "completed")

    def _process(self, batch: Batch, count: int) -> None:
        for custom_id, body in batch.items[batch.done : batch.done + count]:
            line: dict[str, Any] = {"id": f"req_{secrets.token_hex(8)}", "custom_id": custom_id}
            result = self.chat.state.respond({"model": batch.model, **body}, custom_id)
            if isinstance(result, str):
                code = "batch_expired" if result == "batch_expired" else "batch_cancelled"
                line |= {
                    "response": None,
                    "error": {"code": code, "message": code, "param": None, "type": code},
                }
            else:
                status, payload = result
                line |= {
                    "response": {"status_code": status, "request_id": None, "body": payload},
                    "error": None,
                }
            batch.results.append(line)
        batch.done = min(len(batch.items), batch.done + count)

    def _finish(self, batch: Batch, status: str) -> None:
        for custom_id, _ in batch.items[batch.done :]:
            error = {
                "code": "batch_expired",
                "message": "not run before the batch expired",
                "param": None,
                "type": "batch_expired",
            }
            batch.results.append(
                {
                    "id": f"req_{secrets.token_hex(8)}",
                    "custom_id": custom_id,
                    "response": None,
                    "error": error,
                }
            )
        batch.done = len(batch.items)
        batch.status = status
        batch.finalized_at = int(time.time())

    def _build(self) -> FastAPI:
        app = FastAPI(
            title="OpenRouter batch emulator", openapi_url=None, docs_url=None, redoc_url=None
        )

        add_bearer_gate(
            app,
            lambda: self.faults,
            prefix="/api/",
            unauthorized="No auth credentials found",
            error=_error,
        )

        @app.post("/api/v1/batches")
        async def create(request: Request) -> JSONResponse:
            raw = await request.body()
            try:
                body = json.loads(raw)
            except ValueError:
                return _error(400, "Invalid JSON body")
            keys = list(body) if isinstance(body, dict) else []
            if (
                "requests" not in keys
                or keys.index("requests")
                < max(keys.index(k) for k in ("endpoint", "model") if k in keys)
                or not {"endpoint", "model"} <= set(keys)
            ):
                return _error(400, "endpoint and model are required and must come before requests")
            if body["endpoint"] != "/v1/chat/completions":
                return _error(
                    400,
                    f"This emulator serves /v1/chat/completions batches, not {body['endpoint']}",
                )
            seen: set[str] = set()
            items = []
            for entry in body["requests"]:
                custom_id = entry.get("custom_id")
                if not isinstance(custom_id, str) or custom_id in seen:
                    return _error(400, f"custom_id must be a unique string ({custom_id!r})")
                seen.add(custom_id)
                items.append((custom_id, dict(entry.get("body") or {})))
            batch = Batch(
                f"batch_{secrets.token_hex(10)}",
                str(body["model"]),
                items,
                int(time.time()),
                self.faults.polls_in_progress,
            )
            with self.lock:
                self.batches[batch.id] = batch
                return JSONResponse(batch.to_dict(), status_code=202)

        @app.get("/api/v1/batches")
        async def list_batches(limit: int = 20) -> JSONResponse:
            with self.lock:
                ordered = sorted(self.batches.values(), key=lambda b: b.created_at, reverse=True)
                return JSONResponse(
                    {"data": [b.to_dict(with_results=False) for b in ordered[:limit]]}
                )

        @app.get("/api/v1/batches/{batch_id}")
        async def get(batch_id: str) -> JSONResponse:
            batch = self.batches.get(batch_id)
            if batch is None:
                return _error(404, "Batch not found")
            self._advance(batch)
            with self.lock:
                return JSONResponse(batch.to_dict())

        @app.get("/api/v1/batches/{batch_id}/results")
        async def results(batch_id: str, cursor: str = "") -> JSONResponse:
            batch = self.batches.get(batch_id)
            if batch is None:
                return _error(404, "Batch not found")
            if batch.status not in ENDED:
                return _error(409, "Batch has not finished")
            start = int(cursor) if cursor.isdigit() else 0
            data = batch.results[start : start + PAGE]
            more = start + PAGE < len(batch.results)
            return JSONResponse({"data": data, "next_cursor": str(start + PAGE) if more else None})

        @app.delete("/api/v1/batches/{batch_id}")
        async def delete(batch_id: str) -> JSONResponse:
            with self.lock:
                batch = self.batches.get(batch_id)
                if batch is None:
                    return _error(404, "Batch not found")
                if batch.status not in ENDED:
                    return _error(409, "Batch is still in progress")
                self.deleted[batch_id] = self.batches.pop(batch_id)
            return JSONResponse(
                {"id": batch_id, "object": "batch", "deletion": {"openrouter": "deleted"}}
            )

        return app
