"""A neutral ``ModelRequest`` as a Gemini ``GenerateContentRequest`` (REST JSON, camelCase):
the ``request`` of one line of a batch input file, and (converted by the SDK) of one
inlined request.

History rules the API enforces, and how they are met:
- roles are ``user`` and ``model``; consecutive messages of one role share one content;
  a window that starts with a model turn gets a short user turn in front;
- every ``functionCall`` of a model turn is answered by a ``functionResponse`` (same name,
  same id when the model gave one) in the next user turn, responses first and in call
  order; a call without a stored result gets an error response; a result whose call is not
  in the window becomes a text part;
- thought signatures are replayed on the parts they came with (the first function call,
  the text), read from this provider's replay envelope (:mod:`agentbatch.domain.replay`);
  reasoning text itself is not sent back (Gemini does not take thought summaries);
- tool schemas go as ``parametersJsonSchema`` (full JSON Schema), ``tool_choice`` as
  ``functionCallingConfig`` (``required`` -> ``ANY``, ``none`` -> ``NONE``);
- ids we made up for calls the model gave without one (``gfc_`` prefix) are never sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from agentbatch.domain.messages import Message
from agentbatch.domain.model_io import ModelRequest
from agentbatch.domain.replay import pack, unpack

REPLAY = "google"
OPENING = "(earlier messages omitted)"
NO_RESULT = "the tool call was not executed (no result was recorded)"
LOCAL_ID_PREFIX = "gfc_"

Part = dict[str, Any]


def replay_data(calls: Mapping[str, str], text: str | None) -> str | None:
    """The envelope holding thought signatures by call id (and the text's), or None."""
    if not calls and not text:
        return None
    return pack(REPLAY, {"calls": dict(calls), "text": text})


def encode_request(request: ModelRequest) -> dict[str, Any]:
    contents, used = encode_contents(request.messages)
    body: dict[str, Any] = {"contents": contents}
    if request.system.strip():
        body["systemInstruction"] = {"parts": [{"text": request.system}]}
    declarations = [
        {
            "name": t.name,
            "description": t.description,
            "parametersJsonSchema": _schema(t.parameters),
        }
        for t in request.tools
    ]
    choice = request.tool_choice
    declared = {str(d["name"]) for d in declarations}
    missing = [n for n in used if n not in declared]
    if missing and not declarations:
        # the history has calls but nothing is offered now: declare them, never call
        declarations = [{"name": n, "parametersJsonSchema": {"type": "object"}} for n in missing]
        choice = "none"
    if declarations:
        body["tools"] = [{"functionDeclarations": declarations}]
        body["toolConfig"] = {"functionCallingConfig": _calling(choice, declared)}
    generation: dict[str, Any] = {"maxOutputTokens": max(1, request.max_tokens)}
    if request.temperature is not None:
        generation["temperature"] = min(2.0, max(0.0, float(request.temperature)))
    thinking = request.options.get("thinking") if request.options else None
    if isinstance(thinking, Mapping):
        generation["thinkingConfig"] = dict(thinking)
    body["generationConfig"] = generation
    extra = request.options.get("google") if request.options else None
    if isinstance(extra, Mapping):
        for key, value in extra.items():
            if key == "generationConfig" and isinstance(value, Mapping):
                generation.update(value)
            else:
                body[key] = value
    return body


def _schema(parameters: Any) -> dict[str, Any]:
    schema = dict(parameters or {})
    if schema.get("type") != "object":
        schema = {"type": "object", "properties": schema.get("properties", {})}
    return schema


def _calling(choice: str, names: set[str]) -> dict[str, Any]:
    if choice == "required":
        return {"mode": "ANY"}
    if choice == "none":
        return {"mode": "NONE"}
    if choice in names:
        return {"mode": "ANY", "allowedFunctionNames": [choice]}
    return {"mode": "AUTO"}


def arguments_object(arguments: str) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments)
    except ValueError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"INVALID_JSON": arguments}


def encode_contents(history: Iterable[Message]) -> tuple[list[dict[str, Any]], list[str]]:
    """The ``contents`` for ``history`` and the tool names its calls use."""
    contents: list[dict[str, Any]] = []
    pending: dict[str, tuple[str, str]] = {}  # call id -> (name, wire id) of the last model turn
    answers: dict[str, Part] = {}
    used: list[str] = []

    def close_model_turn() -> None:
        """Answer the last model turn's calls, in call order, before anything else."""
        nonlocal pending, answers
        if not pending:
            return
        parts = [
            answers.get(cid) or _response(name, wire, NO_RESULT, is_error=True)
            for cid, (name, wire) in pending.items()
        ]
        _append(contents, "user", parts, front=True)
        pending, answers = {}, {}

    for msg in history:
        if msg.role == "assistant":
            close_model_turn()
            parts = _model_parts(msg)
            if not parts:
                continue
            used.extend(c.name for c in msg.tool_calls if c.name not in used)
            _append(contents, "model", parts)
            pending = {c.id: (c.name, _wire_id(c.id)) for c in msg.tool_calls}
        elif msg.role == "tool":
            call = pending.get(msg.tool_call_id or "")
            if call is not None and (msg.tool_call_id or "") not in answers:
                answers[msg.tool_call_id or ""] = _response(
                    call[0], call[1], msg.content or "", is_error=msg.is_error
                )
            else:
                label = f" {msg.name}" if msg.name else ""
                close_model_turn()
                _append(contents, "user", _text(f"[tool result{label}] {msg.content or ''}"))
        else:
            close_model_turn()
            _append(contents, "user", _text(msg.content))
    close_model_turn()
    if not contents or contents[0]["role"] != "user":
        contents.insert(0, {"role": "user", "parts": [{"text": OPENING}]})
    return contents, used


def _wire_id(call_id: str) -> str:
    return "" if call_id.startswith(LOCAL_ID_PREFIX) else call_id


def _model_parts(msg: Message) -> list[Part]:
    data = unpack(msg.reasoning_signature, REPLAY)
    signatures = data.get("calls", {}) if isinstance(data, Mapping) else {}
    text_signature = data.get("text") if isinstance(data, Mapping) else None
    parts: list[Part] = []
    if msg.content and msg.content.strip():
        part: Part = {"text": msg.content}
        if isinstance(text_signature, str) and text_signature:
            part["thoughtSignature"] = text_signature
        parts.append(part)
    for call in msg.tool_calls:
        function: dict[str, Any] = {"name": call.name, "args": arguments_object(call.arguments)}
        wire = _wire_id(call.id)
        if wire:
            function["id"] = wire
        part = {"functionCall": function}
        signature = signatures.get(call.id) if isinstance(signatures, Mapping) else None
        if isinstance(signature, str) and signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _response(name: str, wire_id: str, content: str, *, is_error: bool) -> Part:
    function: dict[str, Any] = {
        "name": name,
        "response": {"error": content} if is_error else {"result": content},
    }
    if wire_id:
        function["id"] = wire_id
    return {"functionResponse": function}


def _text(text: str | None) -> list[Part]:
    return [{"text": text}] if text and text.strip() else []


def _append(
    contents: list[dict[str, Any]], role: str, parts: list[Part], front: bool = False
) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        if front:
            contents[-1]["parts"][:0] = parts
        else:
            contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": list(parts)})
