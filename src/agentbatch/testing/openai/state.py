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

import json
import math
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from agentbatch.testing.faults import FaultPlan
from agentbatch.testing.openai.answers import Answers
from agentbatch.testing.openai.checks import check_input_file
from agentbatch.testing.openai.objects import (
    Batch,
    StoredFile,
    error_body,
    new_id,
    output_line,
    unanswered_line,
)
from agentbatch.testing.openai.responses import Sealer

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


class EmulatorState(Answers):
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
