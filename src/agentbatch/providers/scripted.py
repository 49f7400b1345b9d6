"""The ``scripted/`` provider: the scripted model behind true batch semantics.

Submit answers every request at once and spools the results to a JSONL file (so that any
worker process on this machine can poll and read the batch); polls report ``in_progress``
for ``polls`` rounds (the largest ``polls`` option among the batch's requests, else the
provider's default) before the batch ends. A request's script comes from its options
(``script``: the agent's model settings win over the job's options); without one the model
answers with ``send_message`` echoing the latest input.

With a ``context_window`` option (an agent's model setting) the provider counts every
request's tokens (``scripted_model.request_tokens``) and refuses, as a real provider does,
one whose prompt plus ``max_tokens`` passes it: the item errors, not retryable. Summary
requests (``purpose="summary"``) are answered by ``scripted_model.summarise``; an option
``summary_fail`` (a list of errored/expired/canceled) fails a summary's attempt ``k``
with its ``k``-th entry.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from agentbatch import jsonfast
from agentbatch.config import home_dir
from agentbatch.domain.model_io import ItemResult, ModelRequest, ModelResponse, Outcome
from agentbatch.errors import UnknownBatch
from agentbatch.providers.base import BatchLimits, BatchTag, PollResult, ProviderBase
from agentbatch.providers.scripted_model import (
    answer,
    request_tokens,
    summarise,
    validate_script,
)

DEFAULT_SCRIPT: list[dict[str, Any]] = [
    {"tool": "send_message", "args": {"message": "You said: {input}"}, "heartbeat": False}
]


def latest_input(request: ModelRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user" and message.kind == "input":
            return message.content or ""
    return ""


class ScriptedProvider(ProviderBase):
    name = "scripted"
    limits = BatchLimits(max_requests=1_000_000, max_bytes=1 << 40)

    poll_interval_s = 0.05

    def __init__(self, spool_dir: Path | None = None, default_polls: int = 0) -> None:
        self.spool = spool_dir or home_dir() / "scripted"
        self.spool.mkdir(parents=True, exist_ok=True)
        self.default_polls = default_polls
        # results of batches submitted by this process: read back without re-parsing
        self._local: dict[str, list[ItemResult]] = {}
        self._validated: tuple[Any, list[dict[str, Any]]] | None = None
        # requests refused as over the model's window (options ``context_window``):
        # (custom id, prompt tokens, max_tokens, window); tests assert it stays empty
        self.refused: list[tuple[str, int, int, int]] = []
        self.live_calls = 0

    def encode(self, custom_id: str, request: ModelRequest) -> dict[str, Any]:
        script = request.options.get("script", DEFAULT_SCRIPT)
        prompt_chars = len(request.system) + sum(len(m.content or "") for m in request.messages)
        window = request.options.get("context_window")
        tokens = request_tokens(request)
        if isinstance(window, int) and tokens + request.max_tokens > window:
            self.refused.append((custom_id, tokens, request.max_tokens, window))
            return {
                "custom_id": custom_id,
                "refuse": f"prompt is too long: {tokens} tokens + max_tokens "
                f"{request.max_tokens} > the context window of {window}",
            }
        if request.purpose == "summary":
            fail = request.options.get("summary_fail")
            if isinstance(fail, list) and request.attempt <= len(fail):
                return {
                    "custom_id": custom_id,
                    "fail_as": str(fail[request.attempt - 1]),
                    "polls": request.options.get("polls"),
                }
            return {
                "custom_id": custom_id,
                "summary": request.messages[-1].content if request.messages else "",
                "max_tokens": request.max_tokens,
                "model": request.model,
                "polls": request.options.get("polls"),
            }
        return {
            "custom_id": custom_id,
            "script": script,
            "step": request.step,
            "attempt": request.attempt,
            "agent_id": request.agent_id,
            "input": latest_input(request),
            "prompt_chars": prompt_chars,
            "polls": request.options.get("polls"),
            "model": request.model,
        }

    async def submit(
        self, model: str, entries: Sequence[dict[str, Any]], tag: BatchTag | None = None
    ) -> str:
        handle = f"scripted-{os.urandom(12).hex()}"
        polls = max((e["polls"] for e in entries if e.get("polls") is not None), default=None)
        state = {
            "polls_left": self.default_polls if polls is None else int(polls),
            "canceled": False,
            "tag": tag.batch_id if tag is not None else None,
        }
        path = self.spool / f"{handle}.jsonl"
        local: list[ItemResult] = []
        with path.open("w", encoding="utf-8") as out:
            for entry in entries:
                line, item = self._answer(entry)
                out.write(line + "\n")
                local.append(item)
        self._write_state(handle, state)
        self._local[handle] = local
        return handle

    def _script(self, raw: Any) -> list[dict[str, Any]]:
        """Validate once per script object (a job's requests share one)."""
        if self._validated is not None and self._validated[0] is raw:
            return self._validated[1]
        script = validate_script(raw)
        self._validated = (raw, script)
        return script

    def _answer(self, entry: dict[str, Any]) -> tuple[str, ItemResult]:
        """The spool line (JSON text) and the result; the response is encoded once."""
        custom_id = entry["custom_id"]
        if "refuse" in entry:
            failed = {"custom_id": custom_id, "outcome": "errored", "error": entry["refuse"]}
            failed["retryable"] = False
            item = ItemResult(custom_id, Outcome.ERRORED, error=entry["refuse"], retryable=False)
            return jsonfast.dumps(failed), item
        if "fail_as" in entry:
            outcome = Outcome(entry["fail_as"])
            error = f"scripted summary {outcome.value}"
            line = jsonfast.dumps(
                {"custom_id": custom_id, "outcome": outcome.value, "error": error}
            )
            return line, ItemResult(custom_id, outcome, error=error)
        if "summary" in entry:
            response = summarise(entry["summary"] or "", entry["max_tokens"], entry["model"])
            summary_json = jsonfast.dumps(response.to_dict())
            ok = jsonfast.dumps({"custom_id": custom_id, "outcome": "succeeded", "error": None})
            line = f'{ok[:-1]}, "response": {summary_json}}}'
            return line, ItemResult(custom_id, Outcome.SUCCEEDED, response, None, summary_json)
        try:
            script = self._script(entry["script"])
        except ValueError as exc:
            failed = {"custom_id": custom_id, "outcome": "errored", "error": str(exc)}
            return jsonfast.dumps(failed), ItemResult(custom_id, Outcome.ERRORED, error=str(exc))
        result = answer(
            script,
            step=entry["step"],
            attempt=entry["attempt"],
            call_id_prefix=f"call_{entry['custom_id'][-12:]}_{entry['step']}",
            agent_id=entry["agent_id"],
            latest_input=entry["input"],
            prompt_chars=entry["prompt_chars"],
            model=entry["model"],
        )
        head = jsonfast.dumps(
            {"custom_id": custom_id, "outcome": result.outcome.value, "error": result.error}
        )
        response_json = None
        if result.response is not None:
            response_json = jsonfast.dumps(result.response.to_dict())
            head = f'{head[:-1]}, "response": {response_json}}}'
        item = ItemResult(custom_id, result.outcome, result.response, result.error, response_json)
        return head, item

    async def live(self, entry: dict[str, Any]) -> ItemResult:
        """Answer one entry now (the scripted model's live path)."""
        self.live_calls += 1
        return self._answer(entry)[1]

    def _state_path(self, handle: str) -> Path:
        return self.spool / f"{handle}.state.json"

    def _read_state(self, handle: str) -> dict[str, Any]:
        try:
            return dict(json.loads(self._state_path(handle).read_text()))
        except FileNotFoundError:
            raise UnknownBatch(f"scripted batch {handle!r} not found") from None

    def _write_state(self, handle: str, state: dict[str, Any]) -> None:
        tmp = self._state_path(handle).with_suffix(".tmp")
        tmp.write_text(jsonfast.dumps(state))
        tmp.replace(self._state_path(handle))

    async def poll(self, handle: str) -> PollResult:
        state = self._read_state(handle)
        if state["canceled"] or state["polls_left"] <= 0:
            return PollResult(ended=True, status="ended")
        state["polls_left"] -= 1
        self._write_state(handle, state)
        return PollResult(ended=False, status="in_progress")

    async def results(self, handle: str) -> AsyncIterator[ItemResult]:
        state = self._read_state(handle)
        local = self._local.get(handle)
        if local is not None and not state["canceled"]:
            for item in local:
                yield item
            return
        with (self.spool / f"{handle}.jsonl").open(encoding="utf-8") as lines:
            for raw in lines:
                line = json.loads(raw)
                if state["canceled"]:
                    yield ItemResult(line["custom_id"], Outcome.CANCELED, error="batch canceled")
                    continue
                response = line.get("response")
                yield ItemResult(
                    custom_id=line["custom_id"],
                    outcome=Outcome(line["outcome"]),
                    response=ModelResponse.from_dict(response) if response else None,
                    error=line.get("error"),
                    retryable=line.get("retryable", True),
                )

    async def cancel(self, handle: str) -> None:
        state = self._read_state(handle)
        if state["polls_left"] > 0:
            state["canceled"] = True
            self._write_state(handle, state)

    async def find_orphans(self, tag: BatchTag) -> list[str]:
        """Spooled batches whose state names ``tag``'s provider batch."""
        found = []
        for path in self.spool.glob("*.state.json"):
            try:
                state = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if state.get("tag") == tag.batch_id:
                found.append(path.name[: -len(".state.json")])
        return sorted(found)

    def is_open(self, handle: str) -> bool:
        """Whether the batch would still be answered (not ended, not canceled): tests use
        it to check that nothing is left running."""
        try:
            state = self._read_state(handle)
        except UnknownBatch:
            return False
        return not state["canceled"] and state["polls_left"] > 0

    async def cleanup(self, handle: str) -> None:
        self._local.pop(handle, None)
        for path in (self.spool / f"{handle}.jsonl", self._state_path(handle)):
            path.unlink(missing_ok=True)
