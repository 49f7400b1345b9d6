"""The Anthropic Message Batches emulator: state, fault hooks and per-request processing.

The HTTP surface lives in :mod:`agentbatch.testing.anthropic.routes`; this class owns what
it serves: the batches, the script, the fault plan and the prompt cache.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from agentbatch.domain.model_io import Outcome
from agentbatch.providers.scripted_model import answer, validate_script
from agentbatch.testing.anthropic.blocks import Invalid
from agentbatch.testing.anthropic.responder import PromptCache, build_message, conversation_facts
from agentbatch.testing.anthropic.routes import build_app
from agentbatch.testing.anthropic.store import Batch
from agentbatch.testing.anthropic.validation import check_params
from agentbatch.testing.faults import FaultPlan
from agentbatch.testing.server import BackgroundServer

log = logging.getLogger(__name__)

MAX_REQUESTS = 100_000
MAX_BODY_BYTES = 256 * 1024 * 1024


def _utcnow() -> datetime:
    return datetime.now(UTC)


def error_result(kind: str, message: str) -> dict[str, Any]:
    """An ``errored`` batch result with the API's error envelope."""
    return {
        "type": "errored",
        "error": {"type": "error", "error": {"type": kind, "message": message}},
    }


class AnthropicEmulator:
    """A protocol-faithful Anthropic Message Batches API answering from a script.

    ``script``: scripted-model steps (see :mod:`agentbatch.providers.scripted_model`).
    ``faults``: a :class:`FaultPlan`, read live (tests may change it between calls).
    ``clock``: returns the current aware datetime (timestamps, 24 h expiry, cache ttl).
    ``api_key``: if set, only this ``x-api-key`` is accepted (any non-empty key otherwise).
    ``max_requests`` / ``max_body_bytes``: the create limits (100,000 and 256 MB).
    ``cache_min_tokens``: shortest cacheable prefix (the real minimum is 1024+ tokens; 0
    here so small test prompts still show cache writes and reads).
    ``verify_signatures``: reject replayed ``thinking`` blocks whose signature this
    emulator did not issue for that exact text (like the real API).
    ``attempt_of``: custom_id -> attempt number for the script's ``fail`` lists. The wire
    carries no attempt, so by default a request counts as attempt ``n`` when it is the
    ``n``-th with the same ``metadata.user_id`` and the same ``messages`` (a retry resends
    the same request); without a ``user_id`` every request is attempt 1.
    ``id_seed``: makes ids reproducible (random per instance by default, so a restarted
    emulator never reuses an earlier instance's batch ids).
    ``batch_seconds``: a batch ends no earlier than this long after its creation (by
    ``clock``): a slow provider, for deadline tests.

    ``POST /v1/messages`` answers one request live (the Messages API), from the same
    script and prompt cache; ``live_calls`` counts them.
    """

    def __init__(
        self,
        script: Sequence[Mapping[str, Any]] | None = None,
        faults: FaultPlan | None = None,
        clock: Callable[[], datetime] = _utcnow,
        *,
        api_key: str | None = None,
        max_requests: int = MAX_REQUESTS,
        max_body_bytes: int = MAX_BODY_BYTES,
        cache_min_tokens: int = 0,
        verify_signatures: bool = True,
        attempt_of: Callable[[str], int] | None = None,
        id_seed: str | None = None,
        batch_seconds: float = 0.0,
    ) -> None:
        self._script = validate_script(list(script or []))
        self.faults = faults or FaultPlan()
        self.clock = clock
        self.api_key = api_key
        self.max_requests = max_requests
        self.max_body_bytes = max_body_bytes
        self.verify_signatures = verify_signatures
        self.attempt_of = attempt_of
        self._attempts: dict[str, int] = {}
        self.cache = PromptCache(cache_min_tokens)
        self.batches: dict[str, Batch] = {}
        self.batch_seconds = batch_seconds
        self.live_calls = 0
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self._id_lock = threading.Lock()
        self._id_seed = secrets.token_hex(8) if id_seed is None else id_seed
        self.app = build_app(self)

    @property
    def script(self) -> list[dict[str, Any]]:
        return self._script

    @script.setter
    def script(self, value: Sequence[Mapping[str, Any]]) -> None:
        self._script = validate_script(list(value))

    def serve(self, port: int | None = None) -> BackgroundServer:
        """Start serving on 127.0.0.1 (``with emu.serve() as srv: srv.url``)."""
        return BackgroundServer(self.app, port=port).start()

    def new_id(self, prefix: str) -> str:
        with self._id_lock:
            n = next(self._ids)
        return (
            f"{prefix}_01{hashlib.sha256(f'{self._id_seed}:{prefix}{n}'.encode()).hexdigest()[:22]}"
        )

    def create_batch(self, requests: Sequence[Mapping[str, Any]]) -> Batch:
        """Process every request now (results are revealed as the batch progresses)."""
        now = self.clock()
        batch_id = self.new_id("msgbatch")
        items = [
            (str(r["custom_id"]), self._process(r["custom_id"], r["params"], now)) for r in requests
        ]
        batch = Batch(batch_id, now, items, polls_needed=max(0, self.faults.polls_in_progress) + 1)
        if self.batch_seconds > 0:
            batch.ready_at = now + timedelta(seconds=self.batch_seconds)
        with self.lock:
            self.batches[batch_id] = batch
        log.info(
            "anthropic emulator: batch created",
            extra={"batch_id": batch_id, "requests": len(items)},
        )
        return batch

    def create_message(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """One live Messages API request: the batch item's result it would have had."""
        with self._id_lock:
            self.live_calls += 1
        result = self._process("", params, self.clock())
        if result.get("type") == "succeeded":
            result["message"]["usage"]["service_tier"] = "standard"
        return result

    def _attempt(self, custom_id: str, params: Mapping[str, Any]) -> int:
        if self.attempt_of is not None:
            return self.attempt_of(custom_id)
        user_id = _user_id(params)
        if not user_id:
            return 1
        digest = hashlib.sha256(user_id.encode())
        digest.update(json.dumps(params.get("messages"), sort_keys=True).encode())
        with self._id_lock:
            n = self._attempts[digest.hexdigest()] = self._attempts.get(digest.hexdigest(), 0) + 1
        return n

    def _process(self, custom_id: str, params: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        step, user_text, all_text = conversation_facts(params)
        forced = self.faults.take_item_outcome(custom_id, all_text)
        if forced == "errored":
            return error_result("api_error", "injected fault: item errored")
        if forced in ("expired", "canceled"):
            return {"type": forced}
        try:
            check_params(params, verify_signatures=self.verify_signatures)
        except Invalid as exc:
            return error_result("invalid_request_error", str(exc))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a shape not foreseen
            return error_result("invalid_request_error", f"invalid request: {exc}")
        prompt_chars = len(str(params.get("system") or "")) + len(str(params["messages"]))
        scripted = answer(
            self._script,
            step=step,
            attempt=self._attempt(custom_id, params),
            agent_id=_user_id(params),
            call_id_prefix=self.new_id("toolu"),
            latest_input=user_text,
            prompt_chars=prompt_chars,
            model=str(params["model"]),
        )
        if scripted.outcome in (Outcome.EXPIRED, Outcome.CANCELED):
            return {"type": scripted.outcome.value}
        if scripted.outcome is Outcome.ERRORED or scripted.response is None:
            return error_result("api_error", scripted.error or "scripted failure")
        usage = self.cache.account(params, now)
        message = build_message(params, scripted.response, self.new_id("msg"), usage)
        return {"type": "succeeded", "message": message}


def _user_id(params: Mapping[str, Any]) -> str:
    metadata = params.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, Mapping) else None
    return user_id if isinstance(user_id, str) else ""
