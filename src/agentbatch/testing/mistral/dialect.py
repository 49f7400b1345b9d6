"""Where Mistral differs from OpenAI's chat completions, for the emulator: what Mistral
refuses (tool-call ids that are not 9 characters ``[a-zA-Z0-9]``, OpenAI-only fields
``max_completion_tokens`` / ``prompt_cache_key``, a ``tool_choice`` outside
``auto | none | any | required``) and how its answers look (9-character call ids, usage
without OpenAI's details)."""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

_ID = re.compile(r"^[a-zA-Z0-9]{9}$")
_ALNUM = string.ascii_letters + string.digits


def mistral_problem(body: dict[str, Any]) -> str | None:
    for name in ("max_completion_tokens", "prompt_cache_key"):
        if name in body:
            return f"Extra inputs are not permitted: body.{name}"
    choice = body.get("tool_choice")
    if isinstance(choice, str) and choice not in ("auto", "none", "any", "required"):
        return f"Invalid tool_choice: {choice}"
    for message in body.get("messages") or ():
        ids = [c.get("id") for c in message.get("tool_calls") or ()]
        if message.get("role") == "tool":
            ids.append(message.get("tool_call_id"))
        for call_id in ids:
            if not isinstance(call_id, str) or not _ID.match(call_id):
                return f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a length of 9."
    return None


def openai_choice(body: dict[str, Any]) -> Any:
    """The request's ``tool_choice`` as OpenAI spells it (Mistral's ``any`` is ``required``)."""
    choice = body.get("tool_choice")
    return "required" if choice == "any" else choice


def mistral_shape(payload: dict[str, Any]) -> None:
    """Mistral's own shape: 9-character call ids, usage without OpenAI's details."""
    usage = payload["usage"]
    payload["usage"] = {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    for choice in payload.get("choices") or ():
        for call in (choice.get("message") or {}).get("tool_calls") or ():
            call["id"] = "".join(secrets.choice(_ALNUM) for _ in range(9))
