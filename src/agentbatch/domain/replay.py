"""Provider replay data kept in a message's ``reasoning_signature``.

Reasoning that a provider wants back verbatim on the next call does not fit one string
for every provider: Anthropic signs one thinking block (a plain signature string), Gemini
signs individual parts (a thought signature per function call, one for the text), the
OpenAI Responses API hands out whole reasoning items (``encrypted_content`` with ids).

A plain string stays what it always was: an Anthropic-style signature. Anything else is
an *envelope*: ``{"replay": "<provider>", "data": <json>}`` as compact JSON. Each encoder
reads only its own envelope (:func:`unpack`), so a history written by one provider never
sends another provider's signature (which that provider would reject), and an encoder
that sees a foreign envelope just drops the reasoning, as with unsigned reasoning.
"""

from __future__ import annotations

import json
from typing import Any

_PREFIX = '{"replay":'


def pack(provider: str, data: Any) -> str:
    """``data`` (JSON-serialisable) wrapped for ``provider``."""
    return json.dumps({"replay": provider, "data": data}, separators=(",", ":"))


def is_envelope(signature: str | None) -> bool:
    return bool(signature) and str(signature).startswith(_PREFIX)


def unpack(signature: str | None, provider: str) -> Any | None:
    """The replay data ``provider`` stored, or None (no data, plain or foreign)."""
    if not is_envelope(signature):
        return None
    try:
        envelope = json.loads(str(signature))
    except ValueError:
        return None
    if not isinstance(envelope, dict) or envelope.get("replay") != provider:
        return None
    return envelope.get("data")


def plain_signature(signature: str | None) -> str | None:
    """The signature when it is a plain (Anthropic-style) one, else None."""
    return None if not signature or is_envelope(signature) else signature
