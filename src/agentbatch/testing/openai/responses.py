"""``/v1/responses`` in the OpenAI emulator: what the Responses API rejects with a 400 and
the ``response`` object it answers with.

Reasoning: when the script gives a step ``reasoning``, the answer starts with a reasoning
item whose ``encrypted_content`` the emulator seals (an HMAC over the item's id and
summary); with ``store: false`` a replayed reasoning item must carry that content intact,
or the request is rejected, as the real API cannot decrypt a tampered item. A reasoning
item must be followed by the message or function call it preceded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from agentbatch.domain.model_io import ModelResponse
from agentbatch.testing.openai.chat_checks import BadRequest
from agentbatch.testing.openai.objects import new_id


class Sealer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def seal(self, item_id: str, summary: list[dict[str, Any]]) -> str:
        payload = json.dumps([item_id, summary], sort_keys=True).encode()
        return base64.b64encode(hmac.new(self._secret, payload, hashlib.sha256).digest()).decode()

    def check(self, item: dict[str, Any], index: int) -> None:
        sealed = item.get("encrypted_content")
        if not isinstance(sealed, str):
            raise BadRequest(
                f"Item with id '{item.get('id')}' not found. Items are not persisted when "
                "`store` is set to false. Try again with `store` set to true, or pass the "
                "reasoning item's `encrypted_content`.",
                f"input[{index}]",
            )
        expected = self.seal(str(item.get("id")), list(item.get("summary") or []))
        if not hmac.compare_digest(sealed, expected):
            raise BadRequest(
                "The encrypted content could not be verified.",
                f"input[{index}]",
                "invalid_encrypted_content",
            )


def check_responses_body(body: dict[str, Any], sealer: Sealer) -> list[dict[str, Any]]:
    """Raise BadRequest for what ``/v1/responses`` rejects; returns the input items."""
    if not isinstance(body.get("model"), str):
        raise BadRequest(
            "Missing required parameter: 'model'.", "model", "missing_required_parameter"
        )
    items = body.get("input")
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise BadRequest(
            "Missing required parameter: 'input'.", "input", "missing_required_parameter"
        )
    names = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
    pending: set[str] = set()
    for i, item in enumerate(items):
        kind = item.get("type", "message")
        if kind == "reasoning":
            sealer.check(item, i)
            following = items[i + 1] if i + 1 < len(items) else {}
            if (
                following.get("type", "message") == "reasoning"
                or following.get("role") == "user"
                or not following
            ):
                raise BadRequest(
                    f"Item '{item.get('id')}' of type 'reasoning' was provided without its "
                    "required following item.",
                    "input",
                )
        elif kind == "function_call":
            if item.get("name") not in names:
                raise BadRequest(
                    f"Tool '{item.get('name')}' is not declared in tools.", f"input[{i}]"
                )
            pending.add(str(item.get("call_id")))
        elif kind == "function_call_output":
            if item.get("call_id") not in pending:
                raise BadRequest(
                    f"No tool call found for function call output with call_id {item.get('call_id')}.",
                    "input",
                )
            pending.discard(str(item.get("call_id")))
        elif kind == "message":
            if item.get("role") not in ("user", "assistant", "system", "developer"):
                raise BadRequest(
                    f"Invalid value: '{item.get('role')}'.", f"input[{i}].role", "invalid_value"
                )
        else:
            raise BadRequest(f"Invalid value: '{kind}'.", f"input[{i}].type", "invalid_value")
    if pending:
        raise BadRequest(f"No tool output found for function call {sorted(pending)[0]}.", "input")
    if body.get("store") is not False and any(i.get("type") == "reasoning" for i in items):
        return items  # stored reasoning: the real API would look the item up by id
    return items


def response_body(
    answer: ModelResponse,
    *,
    model: str,
    created: int,
    input_tokens: int,
    cached_tokens: int,
    sealer: Sealer,
    encrypted: bool,
) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    reasoning_tokens = 0
    if answer.reasoning:
        item_id = new_id("rs_", 24)
        summary = [{"type": "summary_text", "text": answer.reasoning}]
        item: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": summary}
        if encrypted:
            item["encrypted_content"] = sealer.seal(item_id, summary)
        output.append(item)
        reasoning_tokens = max(1, len(answer.reasoning) // 4)
    if answer.content:
        output.append(
            {
                "id": new_id("msg_", 24),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": answer.content, "annotations": []}],
            }
        )
    for call in answer.tool_calls:
        output.append(
            {
                "id": new_id("fc_", 24),
                "type": "function_call",
                "status": "completed",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments,
            }
        )
    out_tokens = answer.usage.output_tokens + reasoning_tokens
    return {
        "id": new_id("resp_", 24),
        "object": "response",
        "created_at": created,
        "status": "completed",
        "model": model,
        "output": output,
        "store": False,
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached_tokens},
            "output_tokens": out_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": input_tokens + out_tokens,
        },
    }
