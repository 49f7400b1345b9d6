"""The emulator's in-memory state: files, batches and their lifecycle, scripted answers.

A batch advances only when it is retrieved, so tests wait on states, never on wall time:
the first retrieve moves ``validating`` to ``failed`` (input-file errors) or
``in_progress``; a batch then stays ``in_progress`` for ``FaultPlan.polls_in_progress``
retrieves (answering a share of its requests on each), and the next retrieve answers the
rest and ends it ``completed``. ``cancel`` makes it ``cancelling``; the next retrieve ends
it ``cancelled`` (unanswered requests -> ``batch_cancelled``). ``expire`` does the same
with ``expired`` / ``batch_expired``.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from agentbatch.domain.model_io import Outcome
from agentbatch.providers.scripted_model import answer
from agentbatch.testing.faults import FaultPlan
from agentbatch.testing.openai.checks import BadRequest, check_chat_body, check_input_file
from agentbatch.testing.openai.objects import (
    Batch,
    StoredFile,
    completion_body,
    error_body,
    new_id,
    output_line,
    unanswered_line,
)
from agentbatch.testing.openai.responses import Sealer, check_responses_body, response_body
from agentbatch.testing.run_steps import run_position, run_start

CHAT_ENDPOINT = "/v1/chat/completions"
RESPONSES_ENDPOINT = "/v1/responses"
NOT_CHAT = "This emulator answers only /v1/chat/completions and /v1/responses requests."
ENDED = ("completed", "failed", "expired", "cancelled")
SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
_UNANSWERED = {"expired": "batch_expired", "canceled": "batch_cancelled"}
Answer = tuple[int, dict[str, Any]] | str  # an HTTP answer, or an error-file code


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


class EmulatorState:
    def __init__(
        self,
        script: list[dict[str, Any]],
        faults: FaultPlan,
        clock: Callable[[], float],
        max_bytes: int,
        max_requests: int,
    ) -> None:
        self.script = script
        self.faults = faults
        self.clock = clock
        self.max_bytes = max_bytes
        self.max_requests = max_requests
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, Batch] = {}
        self.lock = threading.RLock()
        self._attempts: dict[tuple[str, int, int], int] = defaultdict(int)
        self._prefixes: set[str] = set()
        self.sealer = Sealer(secrets.token_bytes(16))
        self.chat_calls = 0
        self.chat_in_flight = 0
        self.max_chat_in_flight = 0

    def now(self) -> int:
        return int(self.clock())

    def add_file(self, filename: str, purpose: str, content: bytes) -> StoredFile:
        with self.lock:
            stored = StoredFile(new_id("file-", 22), filename, purpose, content, self.now())
            self.files[stored.id] = stored
            return stored

    def create_batch(
        self, input_file: StoredFile, endpoint: str, metadata: dict[str, str] | None
    ) -> Batch:
        with self.lock:
            check = check_input_file(
                input_file.content,
                endpoint,
                max_bytes=self.max_bytes,
                max_requests=self.max_requests,
            )
            batch = Batch(
                id=new_id("batch_", 32),
                input_file_id=input_file.id,
                endpoint=endpoint,
                metadata=metadata,
                created_at=self.now(),
                items=check.items,
                errors=check.errors,
                model=check.model,
                polls_left=self.faults.polls_in_progress,
            )
            self.batches[batch.id] = batch
            return batch

    # -- lifecycle -------------------------------------------------------------------------

    def advance(self, batch: Batch) -> None:
        """One retrieve's worth of progress (see module docstring)."""
        with self.lock:
            if batch.status == "validating":
                if batch.errors:
                    batch.items = []
                    batch.status = "failed"
                    batch.times["failed"] = self.now()
                    return
                batch.status = "in_progress"
                batch.times["in_progress"] = self.now()
            if batch.status == "in_progress":
                if batch.force_expire:
                    self._finish(batch, "expired", "batch_expired")
                elif batch.polls_left > 0:
                    pending = len(batch.items) - batch.done
                    self._process(batch, math.ceil(pending / (batch.polls_left + 1)))
                    batch.polls_left -= 1
                else:
                    self._process(batch, len(batch.items))
                    batch.times["finalizing"] = self.now()
                    self._finish(batch, "completed", "")
            elif batch.status == "cancelling":
                self._finish(batch, "cancelled", "batch_cancelled")

    def cancel(self, batch: Batch) -> bool:
        """False when the batch has already ended (the API answers 400)."""
        with self.lock:
            if batch.status in ("cancelling", "cancelled"):
                return True
            if batch.status in ENDED:
                return False
            batch.status = "cancelling"
            batch.times["cancelling"] = self.now()
            return True

    def expire(self, batch: Batch) -> None:
        with self.lock:
            batch.force_expire = True

    def _process(self, batch: Batch, count: int) -> None:
        for item in batch.items[batch.done : batch.done + count]:
            result: Answer = (400, error_body(400, NOT_CHAT, param="url"))
            if batch.endpoint == CHAT_ENDPOINT:
                result = self.respond(item.body, item.custom_id)
            elif batch.endpoint == RESPONSES_ENDPOINT:
                result = self.respond_responses(item.body, item.custom_id)
            if isinstance(result, str):
                batch.error_lines.append(unanswered_line(item.custom_id, result))
                batch.failed += 1
                continue
            status, body = result
            line = output_line(item.custom_id, status, body)
            if status == 200:
                batch.output_lines.append(line)
                batch.completed += 1
                usage = body["usage"]
                if "prompt_tokens" in usage:  # a chat completion
                    cached = usage["prompt_tokens_details"]["cached_tokens"]
                    batch.usage["input"] += usage["prompt_tokens"]
                    batch.usage["output"] += usage["completion_tokens"]
                else:  # a response
                    cached = usage["input_tokens_details"]["cached_tokens"]
                    batch.usage["input"] += usage["input_tokens"]
                    batch.usage["output"] += usage["output_tokens"]
                batch.usage["cached"] += cached
            else:
                batch.error_lines.append(line)
                batch.failed += 1
        batch.done = min(len(batch.items), batch.done + count)

    def _finish(self, batch: Batch, status: str, code: str) -> None:
        if code:
            for item in batch.items[batch.done :]:
                batch.error_lines.append(unanswered_line(item.custom_id, code))
        batch.done = len(batch.items)
        for kind, lines in (("output", batch.output_lines), ("error", batch.error_lines)):
            if lines:
                content = "".join(json.dumps(line) + "\n" for line in lines).encode()
                stored = self.add_file(f"{batch.id}_{kind}.jsonl", "batch_output", content)
                setattr(batch, f"{kind}_file_id", stored.id)
        batch.output_lines, batch.error_lines = [], []
        batch.status = status
        batch.times[status] = self.now()

    # -- answers -----------------------------------------------------------------------------

    def respond(self, body: dict[str, Any], custom_id: str) -> Answer:
        """Answer one chat-completions request from the script (and the fault plan)."""
        with self.lock:
            try:
                check_chat_body(body)
            except BadRequest as exc:
                return 400, error_body(400, exc.message, param=exc.param, code=exc.code)
            messages: list[dict[str, Any]] = body["messages"]
            last: dict[str, Any] = next(
                (m for m in reversed(messages) if m.get("role") in ("user", "tool")), {}
            )
            forced = self.faults.take_item_outcome(custom_id, _text(last.get("content")))
            if forced == "errored":
                return 500, error_body(500, SERVER_ERROR)
            if forced in _UNANSWERED:
                return _UNANSWERED[forced]
            step, run_input = run_position(messages, lambda m: _text(m.get("content")))
            key = str(body.get("prompt_cache_key") or "")
            attempt = 1
            if key:  # the same request again (same history length) is a retry
                self._attempts[(key, step, len(messages))] += 1
                attempt = self._attempts[(key, step, len(messages))]
            prompt_chars = len(json.dumps(messages)) + len(json.dumps(body.get("tools") or []))
            scripted = answer(
                self.script,
                step=step,
                attempt=attempt,
                call_id_prefix=new_id("call_", 20),
                agent_id=key,
                latest_input=run_input,
                prompt_chars=prompt_chars,
                model=str(body["model"]),
            )
            if scripted.outcome == Outcome.ERRORED or scripted.response is None:
                return 500, error_body(500, scripted.error or SERVER_ERROR)
            if scripted.outcome != Outcome.SUCCEEDED:
                return _UNANSWERED[scripted.outcome.value]
            prompt_tokens = max(1, prompt_chars // 4)
            return 200, completion_body(
                scripted.response,
                model=str(body["model"]),
                created=self.now(),
                prompt_tokens=prompt_tokens,
                cached_tokens=self._cached_tokens(body, prompt_tokens),
            )

    def respond_responses(self, body: dict[str, Any], custom_id: str) -> Answer:
        """Answer one ``/v1/responses`` request (see :mod:`agentbatch.testing.openai.responses`)."""
        with self.lock:
            try:
                items = check_responses_body(body, self.sealer)
            except BadRequest as exc:
                return 400, error_body(400, exc.message, param=exc.param, code=exc.code)
            last = items[-1]
            last_text = last.get("output") if "output" in last else last.get("content")
            forced = self.faults.take_item_outcome(custom_id, _text(last_text))
            if forced == "errored":
                return 500, error_body(500, SERVER_ERROR)
            if forced in _UNANSWERED:
                return _UNANSWERED[forced]
            # a model turn starts with its first item after a user message; steps count
            # from this run's input (as the scripted/ provider counts)
            start, run_input = run_start(
                items, lambda i: _text(i.get("content")) if i.get("role") == "user" else ""
            )
            own = items[max(start, 0) :]
            step = sum(
                1
                for prev, item in zip([{}, *own], own, strict=False)
                if prev.get("role") == "user"
                and (
                    item.get("type") in ("reasoning", "function_call")
                    or item.get("role") == "assistant"
                )
            )
            key = str(body.get("prompt_cache_key") or "")
            attempt = 1
            if key:  # the same request again (same history length) is a retry
                self._attempts[(key, step, len(items))] += 1
                attempt = self._attempts[(key, step, len(items))]
            prompt_chars = len(json.dumps(items)) + len(str(body.get("instructions") or ""))
            prompt_chars += len(json.dumps(body.get("tools") or []))
            scripted = answer(
                self.script,
                step=step,
                attempt=attempt,
                call_id_prefix=new_id("call_", 20),
                agent_id=key,
                latest_input=run_input,
                prompt_chars=prompt_chars,
                model=str(body["model"]),
            )
            if scripted.outcome == Outcome.ERRORED or scripted.response is None:
                return 500, error_body(500, scripted.error or SERVER_ERROR)
            if scripted.outcome != Outcome.SUCCEEDED:
                return _UNANSWERED[scripted.outcome.value]
            prompt_tokens = max(1, prompt_chars // 4)
            as_chat = {
                "model": body["model"],
                "tools": body.get("tools"),
                "messages": [{"role": "system", "content": body.get("instructions")}, *items],
            }
            encrypted = "reasoning.encrypted_content" in (body.get("include") or [])
            return 200, response_body(
                scripted.response,
                model=str(body["model"]),
                created=self.now(),
                input_tokens=prompt_tokens,
                cached_tokens=self._cached_tokens(as_chat, prompt_tokens),
                sealer=self.sealer,
                encrypted=encrypted,
            )

    def _cached_tokens(self, body: dict[str, Any], prompt_tokens: int) -> int:
        """Emulated prompt caching: the longest message prefix seen before, counted from
        1,024 tokens in steps of 128 (as OpenAI reports ``cached_tokens``)."""
        if len(self._prefixes) > 200_000:
            self._prefixes.clear()
        seed = json.dumps([body.get("model"), body.get("tools")], sort_keys=True)
        digest = hashlib.sha256(seed.encode())
        chars, best = len(seed), 0
        for message in body["messages"]:
            text = json.dumps(message, sort_keys=True)
            digest.update(text.encode())
            chars += len(text)
            key = digest.copy().hexdigest()
            if key in self._prefixes:
                best = chars
            self._prefixes.add(key)
        tokens = min(best // 4, prompt_tokens)
        return 0 if tokens < 1024 else tokens // 128 * 128
