"""The Messages API's conversation rules, as the Anthropic emulator enforces them.

Stricter than the real service in one place, on purpose: consecutive turns of the same role
are rejected (the real API silently merges them), so an adapter that relies on merging is
caught here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentbatch.testing.anthropic.blocks import (
    ASSISTANT_BLOCKS,
    CACHEABLE_BLOCKS,
    TOOL_USE_ID,
    USER_BLOCKS,
    Invalid,
    cache_control,
    check_text,
    sign_thinking,
)

NEEDS_TOOLS = "Requests which include `tool_use` or `tool_result` blocks must define tools."


def check_messages(
    messages: Any, breakpoints: list[str], *, has_tools: bool, verify_signatures: bool = True
) -> None:
    """Raise Invalid for the first rule ``messages`` breaks; collect cache breakpoint ttls."""
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages: List should have at least 1 item")
    pending: list[str] = []  # tool_use ids of the previous assistant turn, still unanswered
    seen_ids: set[str] = set()
    last = len(messages) - 1
    for i, msg in enumerate(messages):
        path = f"messages.{i}"
        if not isinstance(msg, Mapping) or msg.get("role") not in ("user", "assistant"):
            raise Invalid(f"{path}.role: Input should be 'user' or 'assistant'")
        role = msg["role"]
        if i == 0 and role != "user":
            raise Invalid(f'{path}.role: the first message must use the "user" role')
        if i > 0 and messages[i - 1].get("role") == role:
            raise Invalid(f'{path}: roles must alternate between "user" and "assistant"')
        blocks = _blocks(
            msg.get("content"), path, final_assistant=(i == last and role == "assistant")
        )
        if role == "user":
            answered = _check_user(blocks, path, pending, breakpoints, has_tools)
            missing = [t for t in pending if t not in answered]
            if missing:
                raise Invalid(
                    f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                    "corresponding `tool_result` block in the next message."
                )
            pending = []
        else:
            pending = _check_assistant(
                blocks, path, seen_ids, breakpoints, has_tools, verify_signatures
            )
            if i == last and pending:
                raise Invalid(
                    f"{path}: `tool_use` ids were found without `tool_result` blocks immediately "
                    f"after: {', '.join(pending)}."
                )
            tail = blocks[-1] if i == last and blocks else None
            if (
                tail is not None
                and tail.get("type") == "text"
                and tail["text"] != tail["text"].rstrip()
            ):
                raise Invalid("final assistant content cannot end with trailing whitespace")


def _blocks(content: Any, path: str, *, final_assistant: bool) -> list[Mapping[str, Any]]:
    if isinstance(content, str):
        if not content.strip() and not (final_assistant and content == ""):
            raise Invalid(f"{path}: text content blocks must contain non-whitespace text")
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise Invalid(f"{path}.content: Input should be a valid string or list")
    if not content and not final_assistant:
        raise Invalid(
            f"{path}: all messages must have non-empty content except for the optional final "
            "assistant message"
        )
    for j, block in enumerate(content):
        if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
            raise Invalid(f"{path}.content.{j}: Input should be a valid content block")
    return list(content)


def _check_user(
    blocks: list[Mapping[str, Any]],
    path: str,
    pending: list[str],
    breakpoints: list[str],
    has_tools: bool,
) -> set[str]:
    answered: set[str] = set()
    seen_other = False
    for j, block in enumerate(blocks):
        bpath, kind = f"{path}.content.{j}", block["type"]
        if kind not in USER_BLOCKS:
            raise Invalid(f"{bpath}.type: block type {kind!r} is not allowed in a user message")
        cache_control(block, bpath, breakpoints, kind in CACHEABLE_BLOCKS)
        if kind != "tool_result":
            seen_other = True
            if kind == "text":
                check_text(block, bpath)
            elif not isinstance(block.get("source"), Mapping):
                raise Invalid(f"{bpath}.source: Field required")
            continue
        if not has_tools:
            raise Invalid(NEEDS_TOOLS)
        if seen_other:
            raise Invalid(
                f"{bpath}: `tool_result` blocks must come first in the user message content, "
                "before any other block"
            )
        tid = block.get("tool_use_id")
        if not isinstance(tid, str) or tid not in pending:
            raise Invalid(
                f"{bpath}: unexpected `tool_use_id` found in `tool_result` blocks: {tid}. Each "
                "`tool_result` block must have a corresponding `tool_use` block in the previous "
                "message."
            )
        if tid in answered:
            raise Invalid(f"{bpath}: duplicate `tool_result` for `tool_use_id` {tid}")
        answered.add(tid)
        _check_tool_result_content(block, bpath)
    return answered


def _check_tool_result_content(block: Mapping[str, Any], path: str) -> None:
    if "is_error" in block and not isinstance(block["is_error"], bool):
        raise Invalid(f"{path}.is_error: Input should be a valid boolean")
    content = block.get("content")
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise Invalid(f"{path}.content: Input should be a valid string or list")
    for k, inner in enumerate(content):
        if not isinstance(inner, Mapping) or inner.get("type") not in (
            "text",
            "image",
            "document",
            "search_result",
        ):
            raise Invalid(f"{path}.content.{k}.type: Input should be 'text', 'image' or 'document'")
        if inner["type"] == "text":
            check_text(inner, f"{path}.content.{k}")


def _check_assistant(
    blocks: list[Mapping[str, Any]],
    path: str,
    seen_ids: set[str],
    breakpoints: list[str],
    has_tools: bool,
    verify_signatures: bool,
) -> list[str]:
    tool_ids: list[str] = []
    seen_other = False
    for j, block in enumerate(blocks):
        bpath, kind = f"{path}.content.{j}", block["type"]
        if kind not in ASSISTANT_BLOCKS:
            raise Invalid(
                f"{bpath}.type: block type {kind!r} is not allowed in an assistant message"
            )
        cache_control(block, bpath, breakpoints, kind in CACHEABLE_BLOCKS)
        if kind in ("thinking", "redacted_thinking"):
            if seen_other:
                raise Invalid(
                    f"{bpath}: thinking blocks must come before any other block in a message"
                )
            _check_thinking(block, bpath, verify_signatures)
            continue
        seen_other = True
        if kind == "text":
            check_text(block, bpath)
            continue
        if not has_tools:
            raise Invalid(NEEDS_TOOLS)
        tid = block.get("id")
        if not isinstance(tid, str) or not TOOL_USE_ID.match(tid):
            raise Invalid(f"{bpath}.id: String should match pattern '{TOOL_USE_ID.pattern}'")
        if tid in seen_ids:
            raise Invalid(f"{bpath}: `tool_use` ids must be unique, found a duplicate: {tid}")
        if not isinstance(block.get("name"), str) or not block["name"]:
            raise Invalid(f"{bpath}.name: Field required")
        if not isinstance(block.get("input"), Mapping):
            raise Invalid(f"{bpath}.input: Input should be a valid dictionary")
        seen_ids.add(tid)
        tool_ids.append(tid)
    return tool_ids


def _check_thinking(block: Mapping[str, Any], path: str, verify: bool) -> None:
    if block["type"] == "redacted_thinking":
        if not isinstance(block.get("data"), str):
            raise Invalid(f"{path}.data: Field required")
        return
    thinking, signature = block.get("thinking"), block.get("signature")
    if not isinstance(thinking, str):
        raise Invalid(f"{path}.thinking: Field required")
    if not isinstance(signature, str) or not signature:
        raise Invalid(f"{path}.signature: Field required")
    if verify and signature != sign_thinking(thinking):
        raise Invalid(f"{path}: Invalid `signature` in `thinking` block")
