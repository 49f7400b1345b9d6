"""Checks shared by the Anthropic emulator's validators: the error type, text blocks and
``cache_control`` breakpoints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
USER_BLOCKS = frozenset({"text", "image", "document", "search_result", "tool_result"})
ASSISTANT_BLOCKS = frozenset({"text", "thinking", "redacted_thinking", "tool_use"})
CACHEABLE_BLOCKS = frozenset(
    {"text", "image", "document", "search_result", "tool_use", "tool_result"}
)


class Invalid(Exception):
    """A validation failure; ``str()`` is the API's error message."""


def cache_control(obj: Mapping[str, Any], path: str, breakpoints: list[str], allowed: bool) -> None:
    cc = obj.get("cache_control")
    if cc is None:
        return
    if not allowed:
        raise Invalid(f"{path}.cache_control: cache_control cannot be set on this block type")
    if not isinstance(cc, Mapping) or cc.get("type") != "ephemeral":
        raise Invalid(f"{path}.cache_control.type: Input should be 'ephemeral'")
    ttl = cc.get("ttl", "5m")
    if ttl not in ("5m", "1h"):
        raise Invalid(f"{path}.cache_control.ttl: Input should be '5m' or '1h'")
    breakpoints.append(ttl)


def check_text(block: Mapping[str, Any], path: str) -> None:
    text = block.get("text")
    if not isinstance(text, str):
        raise Invalid(f"{path}.text: Input should be a valid string")
    if not text.strip():
        raise Invalid(f"{path}: text content blocks must contain non-whitespace text")


def sign_thinking(thinking: str) -> str:
    """The emulator's signature for a thinking block (opaque to clients, checked on replay)."""
    digest = hmac.new(_SIGNING_KEY, thinking.encode(), hashlib.sha256).digest()
    return base64.b64encode(b"\x01emu" + digest).decode()


_SIGNING_KEY = b"agentbatch-anthropic-emulator"
