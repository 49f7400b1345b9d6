"""One ``GenerateContentRequest`` answered the way Gemini would: validated, answered from the
script, with thought signatures on the parts the real API signs, implicit prompt caching
and ``usageMetadata``.

The API parses proto JSON, so field names arrive in lowerCamel or in snake_case (the SDK
sends ``parameters_json_schema`` and ``thinking_config`` that way): :func:`camel` folds
message keys to lowerCamel and leaves free-form values (``args``, ``response``, schemas)
alone. What a real request gets a 400 for becomes ``InvalidRequest``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from agentbatch.domain.model_io import ModelResponse
from agentbatch.testing.run_steps import is_heartbeat, run_position

_FREE = frozenset(
    {
        "args",
        "response",
        "parametersJsonSchema",
        "parameters",
        "responseJsonSchema",
        "responseSchema",
        "metadata",
    }
)
ROLES = ("user", "model")
CACHE_MIN_TOKENS = 1024


class InvalidRequest(Exception):
    """A 400 INVALID_ARGUMENT for this request."""


def _lower_camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def camel(value: Any) -> Any:
    if isinstance(value, list):
        return [camel(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, inner in value.items():
        name = _lower_camel(str(key))
        out[name] = inner if name in _FREE else camel(inner)
    return out


def _decode_signature(value: Any) -> bytes:
    text = str(value)
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))
    except ValueError:
        raise InvalidRequest("Invalid value at 'thought_signature': not base64") from None


class Signer:
    """Thought signatures the emulator issues (an HMAC of what the part says) and checks:
    a replayed signature must be one issued for that very part."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, part: Mapping[str, Any]) -> str:
        payload = json.dumps(
            {k: v for k, v in part.items() if k != "thoughtSignature"}, sort_keys=True
        )
        digest = hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def check(self, part: Mapping[str, Any], where: str) -> None:
        given = part.get("thoughtSignature")
        if given is None:
            return
        expected = base64.b64decode(self.sign(part))
        if not hmac.compare_digest(_decode_signature(given), expected):
            raise InvalidRequest(f"Corrupted thought signature at {where}.")


def check_request(request: Mapping[str, Any], signer: Signer) -> None:
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        raise InvalidRequest("* GenerateContentRequest.contents: contents is not specified")
    declared: set[str] = set()
    for tool in request.get("tools") or []:
        for decl in tool.get("functionDeclarations") or []:
            name = decl.get("name")
            if not isinstance(name, str) or not name:
                raise InvalidRequest("* GenerateContentRequest.tools: function name is empty")
            declared.add(name)
    calls: list[str] = []
    for i, content in enumerate(contents):
        role = content.get("role", "user")
        parts = content.get("parts")
        if role not in ROLES:
            raise InvalidRequest(f"Please use a valid role: {', '.join(ROLES)}.")
        if not isinstance(parts, list) or not parts:
            raise InvalidRequest(
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            )
        responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
        if calls and role == "user":
            if len(responses) != len(calls):
                raise InvalidRequest(
                    "Please ensure that the number of function response parts is equal to the "
                    "number of function call parts of the function call turn."
                )
            if [r.get("name") for r in responses] != calls:
                raise InvalidRequest("Function response names must match the function calls.")
        elif responses:
            raise InvalidRequest(
                "Please ensure that function response turn comes immediately after a function "
                "call turn."
            )
        calls = []
        for j, part in enumerate(parts):
            if not any(k in part for k in ("text", "functionCall", "functionResponse")):
                raise InvalidRequest(f"contents[{i}].parts[{j}]: a part needs data")
            signer.check(part, f"contents[{i}].parts[{j}]")
            call = part.get("functionCall")
            if call is not None:
                if role != "model":
                    raise InvalidRequest("Function calls can only be in model turns.")
                if call.get("name") not in declared:
                    raise InvalidRequest(
                        f"Function call {call.get('name')!r} is not declared in tools."
                    )
                calls.append(str(call.get("name")))
    if calls:
        raise InvalidRequest(
            "Please ensure that function call turn comes immediately after a user turn or "
            "after a function response turn."
        )
    config = request.get("generationConfig") or {}
    tokens = config.get("maxOutputTokens")
    if tokens is not None and (not isinstance(tokens, int) or tokens < 1):
        raise InvalidRequest("maxOutputTokens must be positive")
    mode = ((request.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    if mode is not None and mode not in ("AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"):
        raise InvalidRequest(f"Invalid value at 'tool_config.function_calling_config.mode': {mode}")


def _own_text(content: Mapping[str, Any]) -> str:
    """A user content's text parts that are not heartbeats (consecutive user messages share
    one content, so the user's input can sit beside tool results and a heartbeat)."""
    texts = [str(p.get("text")) for p in content.get("parts") or () if "text" in p]
    return "\n".join(t for t in texts if not is_heartbeat(t))


def conversation_facts(request: Mapping[str, Any]) -> tuple[int, str, str]:
    """(this run's step, its input text, the last user content's text), counted per run as
    the other emulators count (:mod:`agentbatch.testing.run_steps`)."""
    contents = list(request.get("contents") or ())
    turns = [
        {"role": "assistant" if c.get("role") == "model" else "user", "content": c}
        for c in contents
    ]
    step, latest = run_position(turns, lambda m: _own_text(m["content"]))
    last = ""
    for content in reversed(contents):
        if content.get("role", "user") != "user":
            continue
        parts = content.get("parts") or ()
        results = [
            json.dumps(p["functionResponse"].get("response"))
            for p in parts
            if "functionResponse" in p
        ]
        texts = [str(p.get("text")) for p in parts if "text" in p]
        last = "\n".join(results + texts)
        break
    return step, latest, last


def response_parts(answer: ModelResponse, signer: Signer, thinking: bool) -> list[dict[str, Any]]:
    """The model content's parts: thought summary, text, function calls; the first call
    (or, without calls, the text) carries a thought signature when the model thought."""
    parts: list[dict[str, Any]] = []
    if answer.reasoning:
        parts.append({"text": answer.reasoning, "thought": True})
    if answer.content:
        parts.append({"text": answer.content})
    for call in answer.tool_calls:
        try:
            args = json.loads(call.arguments)
        except ValueError:
            args = {"raw": call.arguments}
        parts.append({"functionCall": {"name": call.name, "args": args}})
    if thinking:
        signed = next((p for p in parts if "functionCall" in p), None) or next(
            (p for p in parts if "text" in p and not p.get("thought")), None
        )
        if signed is not None:
            signed["thoughtSignature"] = signer.sign(signed)
    return parts


class PromptCache:
    """Implicit caching: the longest prefix (system instruction + tools, then contents one
    by one, never the newest turn) seen before, from ``CACHE_MIN_TOKENS`` tokens (4
    characters a token)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def cached_tokens(self, request: Mapping[str, Any], prompt_tokens: int) -> int:
        if len(self._seen) > 200_000:
            self._seen.clear()
        seed = json.dumps([request.get("systemInstruction"), request.get("tools")], sort_keys=True)
        digest = hashlib.sha256(seed.encode())
        chars, best = len(seed), 0
        contents = list(request.get("contents") or ())
        for index, content in enumerate(contents):
            text = json.dumps(content, sort_keys=True)
            digest.update(text.encode())
            chars += len(text)
            key = digest.copy().hexdigest()
            if key in self._seen and index < len(contents) - 1:  # the newest turn is new input
                best = chars
            self._seen.add(key)
        tokens = min(best // 4, prompt_tokens - 1)
        return tokens if tokens >= CACHE_MIN_TOKENS else 0
