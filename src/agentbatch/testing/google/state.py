"""The Gemini emulator's state: files, batch jobs and their lifecycle, scripted answers.

A job advances only when it is read (``GET batches/{id}``), so tests wait on states, never
on wall time: the first read moves ``BATCH_STATE_PENDING`` to ``RUNNING``; a job then stays
running for ``FaultPlan.polls_in_progress`` reads (answering a share of its requests on
each) and the next read answers the rest and ends it ``SUCCEEDED``. ``cancel`` ends it
``CANCELLED`` on the next read, ``expire`` (or 48 hours on the clock) ``EXPIRED``: both
keep what was answered and drop the rest. Results are inline for inline jobs and a JSONL
responses file for file jobs.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from agentbatch.domain.model_io import Outcome
from agentbatch.providers.scripted_model import answer
from agentbatch.testing.faults import FaultPlan
from agentbatch.testing.google.objects import ENDED, Job, StoredFile, status_error
from agentbatch.testing.google.respond import (
    InvalidRequest,
    PromptCache,
    Signer,
    camel,
    check_request,
    conversation_facts,
    response_parts,
)

EXPIRY = timedelta(hours=48)


class GoogleState:
    def __init__(
        self, script: list[dict[str, Any]], faults: FaultPlan, clock: Callable[[], datetime]
    ) -> None:
        self.script = script
        self.faults = faults
        self.clock = clock
        self.lock = threading.RLock()
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, Job] = {}
        self.uploads: dict[str, dict[str, Any]] = {}  # upload id -> file metadata
        self.signer = Signer(secrets.token_bytes(16))
        self.cache = PromptCache()
        self._attempts: dict[str, int] = defaultdict(int)
        self.answers: list[tuple[str, str]] = []  # (key, "ok" | error status)
        self.totals: dict[str, int] = defaultdict(int)  # tokens billed, by kind

    def add_file(
        self, display: str, mime: str, content: bytes, source: str = "UPLOADED"
    ) -> StoredFile:
        with self.lock:
            stored = StoredFile(
                f"files/{secrets.token_hex(6)}", display, mime, content, self.clock(), source
            )
            self.files[stored.name] = stored
            return stored

    def create_job(
        self,
        model: str,
        display: str,
        items: list[tuple[str, dict[str, Any], dict[str, Any] | None]],
        inline: bool,
    ) -> Job:
        with self.lock:
            name = f"batches/{secrets.token_hex(12)}"
            job = Job(
                name, model, display, self.clock(), items, inline, self.faults.polls_in_progress
            )
            self.jobs[name] = job
            return job

    # -- lifecycle -------------------------------------------------------------------------

    def advance(self, job: Job) -> None:
        with self.lock:
            if job.state in ENDED:
                return
            if job.force_expire or self.clock() >= job.created + EXPIRY:
                self._finish(job, "BATCH_STATE_EXPIRED")
            elif job.cancel_asked:
                self._finish(job, "BATCH_STATE_CANCELLED")
            elif job.state == "BATCH_STATE_PENDING":
                job.state = "BATCH_STATE_RUNNING"
                self._step(job)
            else:
                self._step(job)

    def _step(self, job: Job) -> None:
        if job.polls_left > 0:
            pending = len(job.items) - job.done
            self._process(job, math.ceil(pending / (job.polls_left + 1)))
            job.polls_left -= 1
        else:
            self._process(job, len(job.items))
            self._finish(job, "BATCH_STATE_SUCCEEDED")

    def cancel(self, job: Job) -> bool:
        with self.lock:
            if job.state in ENDED:
                return False
            job.cancel_asked = True
            return True

    def _process(self, job: Job, count: int) -> None:
        for key, request, metadata in job.items[job.done : job.done + count]:
            result = self.respond(key, request, job.model)
            if result is None:
                continue
            if job.inline:
                if metadata is not None:
                    result["metadata"] = metadata
            else:
                result = {"key": key, **result}
            job.results.append(result)
        job.done = min(len(job.items), job.done + count)

    def _finish(self, job: Job, state: str) -> None:
        job.state = state
        job.ended = self.clock()
        if not job.inline:
            content = "".join(json.dumps(r) + "\n" for r in job.results).encode()
            stored = self.add_file(
                f"{job.name}-responses", "application/jsonl", content, "GENERATED"
            )
            job.responses_file = stored.name

    # -- answers -----------------------------------------------------------------------------

    def respond(self, key: str, raw: dict[str, Any], model: str) -> dict[str, Any] | None:
        """The result entry for one request (None: the request never ran, e.g. expired)."""
        request = camel(raw)
        step, latest, last_text = conversation_facts(request)
        entry: dict[str, Any] = {}
        forced = self.faults.take_item_outcome(key, last_text)
        if forced == "errored":
            return self._error(entry, key, 500, "INTERNAL", "injected fault: item errored")
        if forced in ("expired", "canceled"):
            return None
        try:
            check_request(request, self.signer)
        except InvalidRequest as exc:
            return self._error(entry, key, 400, "INVALID_ARGUMENT", str(exc))
        digest = json.dumps(
            [request.get("systemInstruction"), request.get("contents")], sort_keys=True
        )
        self._attempts[digest] += 1
        prompt_chars = (
            len(json.dumps(request.get("contents")))
            + len(json.dumps(request.get("systemInstruction") or {}))
            + len(json.dumps(request.get("tools") or []))
        )
        scripted = answer(
            self.script,
            step=step,
            attempt=self._attempts[digest],
            call_id_prefix="unused",
            latest_input=latest,
            prompt_chars=prompt_chars,
            model=model,
        )
        if scripted.outcome in (Outcome.EXPIRED, Outcome.CANCELED):
            return None
        if scripted.outcome is Outcome.ERRORED or scripted.response is None:
            return self._error(entry, key, 500, "INTERNAL", scripted.error or "scripted failure")
        thinking = bool((request.get("generationConfig") or {}).get("thinkingConfig")) or bool(
            scripted.response.reasoning
        )
        parts = response_parts(scripted.response, self.signer, thinking)
        prompt = max(1, prompt_chars // 4)
        cached = self.cache.cached_tokens(request, prompt)
        thoughts = len(scripted.response.reasoning or "") // 4
        candidates = max(1, scripted.response.usage.output_tokens)
        usage = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": candidates,
            "totalTokenCount": prompt + candidates + thoughts,
        }
        if cached:
            usage["cachedContentTokenCount"] = cached
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        with self.lock:
            for name, value in (
                ("prompt", prompt),
                ("cached", cached),
                ("candidates", candidates),
                ("thoughts", thoughts),
            ):
                self.totals[name] += value
            self.answers.append((key, "ok"))
        entry["response"] = {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": usage,
            "modelVersion": model.removeprefix("models/"),
            "responseId": secrets.token_hex(8),
        }
        return entry

    def _error(
        self, entry: dict[str, Any], key: str, code: int, status: str, message: str
    ) -> dict[str, Any]:
        with self.lock:
            self.answers.append((key, status))
        entry["error"] = status_error(code, status, message)
        return entry
