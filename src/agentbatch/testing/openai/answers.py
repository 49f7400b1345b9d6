"""How the emulator answers one request, chat completions or Responses: from the script
(steps counted per run, as ``scripted/`` counts), the fault plan, and emulated prompt
caching. Mixed into ``EmulatorState``, whose lock, script and faults it uses."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from agentbatch.domain.model_io import Outcome
from agentbatch.providers.scripted_model import answer
from agentbatch.testing.faults import FaultPlan
from agentbatch.testing.openai.checks import BadRequest, check_chat_body
from agentbatch.testing.openai.objects import completion_body, error_body, new_id
from agentbatch.testing.openai.responses import Sealer, check_responses_body, response_body
from agentbatch.testing.run_steps import run_position, run_start

SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
_UNANSWERED = {"expired": "batch_expired", "canceled": "batch_cancelled"}
Answer = tuple[int, dict[str, Any]] | str  # an HTTP answer, or an error-file code


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


class Answers:
    lock: Any  # threading.RLock
    script: list[dict[str, Any]]
    faults: FaultPlan
    sealer: Sealer
    _attempts: Any
    _prefixes: set[str]

    def now(self) -> int:
        raise NotImplementedError

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
