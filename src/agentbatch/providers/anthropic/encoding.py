"""A neutral ``ModelRequest`` as Anthropic Messages API ``params`` that the API accepts.

Prompt caching: the last tool and the agent's own system prompt carry ``cache_control``
breakpoints with the 1-hour ttl (batches outlive 5 minutes); the rendered memory follows in
a second system block without one, so a memory edit keeps the cached prefix, and every
request of an agent (and every agent with the same tools and prompt) shares it.

The conversation is cached between a run's steps too (``conversation_marks``): the end of
the request carries a breakpoint (the next step reads up to there), and the end of the
previous step's request carries one (where that step wrote): four breakpoints at most,
as the API allows. The provider option ``cache_conversation`` (job options or the
agent's model settings) is ``auto`` (the default), ``1h``, ``5m`` or ``off``. ``auto``
marks the conversation with the 1-hour ttl, unless the step before edited memory (a
memory edit re-renders the memory in the system prompt and so voids the cached
conversation: the write would never be read). On a window without an earlier step it
marks only agents with a tool other than ``send_message`` and no memory tool: a write
costs twice the input price and pays only when a next step reads it, and an agent with
``send_message`` alone mostly answers in one step. docs/benchmarks.md has the figures.

History rules the API enforces, and how they are met:
- turns alternate, starting with ``user``: consecutive messages of one role are merged into
  one turn; tool results and a following user message (a heartbeat) become one user turn,
  ``tool_result`` blocks first; a window that starts with an assistant turn gets a short
  user turn in front;
- every ``tool_use`` is answered in the next user turn: a call without a stored result gets
  an ``is_error`` result; a result without its call becomes a text block;
- ``tool_use`` ids stay the provider's own, verbatim (characters outside ``[A-Za-z0-9_-]``
  and repeats are rewritten consistently);
- reasoning is replayed only with its own (plain) signature (the API verifies it);
  unsigned reasoning, and reasoning signed by another provider (a replay envelope, see
  :mod:`agentbatch.domain.replay`), is dropped;
- arguments that are not a JSON object are sent as ``{"INVALID_JSON": "<text>"}``;
- ``metadata.user_id`` is the agent's id (opaque; lets the provider attribute requests);
- blank text is never sent; tools used in the history stay declared (the API refuses
  ``tool_use`` blocks without tools) and ``tool_choice: none`` keeps the tools, so the
  cached prefix stays the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from agentbatch.domain.messages import Message, ToolCall
from agentbatch.domain.model_io import ModelRequest
from agentbatch.domain.replay import plain_signature

CACHE_1H = {"type": "ephemeral", "ttl": "1h"}
CACHEABLE = frozenset({"text", "image", "document", "tool_use", "tool_result"})
DEFAULT_CONVERSATION_CACHE = "auto"  # chosen from docs/benchmarks.md (issue 12)
AUTO_TTL = "1h"
OPENING = "(earlier messages omitted)"
NO_RESULT = "(no result: this tool call was not executed)"
_BAD_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")

Block = dict[str, Any]


def system_blocks(system: str, static: int) -> list[Block]:
    """The stable prefix (the agent's prompt) carries the cache breakpoint; the rendered
    memory after it changes with every memory edit and must not void the cached prefix."""
    head, tail = system[:static], system[static:]
    if 0 < static < len(system) and head.strip() and tail.strip():
        return [
            {"type": "text", "text": head, "cache_control": dict(CACHE_1H)},
            {"type": "text", "text": tail},
        ]
    return [{"type": "text", "text": system, "cache_control": dict(CACHE_1H)}]


def encode_params(request: ModelRequest) -> dict[str, Any]:
    messages, used_tools = encode_messages(request.messages)
    params: dict[str, Any] = {"model": request.model, "max_tokens": max(1, request.max_tokens)}
    if request.system.strip():
        params["system"] = system_blocks(request.system, request.system_static)
    tools: list[dict[str, Any]] = [
        {"name": t.name, "description": t.description, "input_schema": _schema(t.parameters)}
        for t in request.tools
    ]
    choice = request.tool_choice
    declared = {str(t["name"]) for t in tools}
    missing = [name for name in used_tools if name not in declared]
    if missing and not tools:
        # the history has tool calls but no tool is offered now: declare them, never call
        tools = [{"name": n, "input_schema": {"type": "object"}} for n in missing]
        choice = "none"
    if tools:
        tools[-1]["cache_control"] = dict(CACHE_1H)
        params["tools"] = tools
        params["tool_choice"] = _tool_choice(choice, declared)
    conversation_marks(messages, conversation_ttl(request))
    params["messages"] = messages
    if request.agent_id:
        params["metadata"] = {"user_id": request.agent_id[:256]}  # an opaque id, per agent
    if request.temperature is not None:
        params["temperature"] = min(1.0, max(0.0, float(request.temperature)))
    thinking = request.options.get("thinking")
    if isinstance(thinking, dict):
        params["thinking"] = dict(thinking)
        if thinking.get("type") in ("enabled", "adaptive"):
            params.pop("temperature", None)  # the API allows only the default with thinking
    return params


MEMORY_EDITS = frozenset({"core_memory_append", "core_memory_replace", "rethink_memory"})
TTLS = {"5m": {"type": "ephemeral", "ttl": "5m"}, "1h": CACHE_1H}


def conversation_ttl(request: ModelRequest) -> str | None:
    """The ttl of the conversation's breakpoints for this request (None: none)."""
    choice = str(request.options.get("cache_conversation", DEFAULT_CONVERSATION_CACHE))
    if choice == "auto":
        last = next((m for m in reversed(request.messages) if m.role == "assistant"), None)
        if last is None:  # a first request: worth a write only if a next step may read it
            names = {t.name for t in request.tools}
            can_edit = bool(names & MEMORY_EDITS)
            can_continue = bool(names - MEMORY_EDITS - {"send_message"})
            return AUTO_TTL if can_continue and not can_edit else None
        edited = any(c.name in MEMORY_EDITS for c in last.tool_calls)
        return None if edited else AUTO_TTL
    return choice if choice in TTLS else None


def conversation_marks(turns: list[dict[str, Any]], ttl: str | None) -> None:
    """Breakpoints at the end of the request and at the end of the previous step's
    request (the user turn before the last assistant turn)."""
    if ttl is None or not turns:
        return
    ends = [len(turns) - 1]
    if len(turns) >= 3 and turns[-3]["role"] == "user" and turns[-2]["role"] == "assistant":
        ends.append(len(turns) - 3)
    for index in ends:
        block = turns[index]["content"][-1]
        if block.get("type") in CACHEABLE:
            block["cache_control"] = dict(TTLS[ttl])


def _schema(parameters: Any) -> dict[str, Any]:
    schema = dict(parameters or {})
    if schema.get("type") != "object":
        schema = {"type": "object", "properties": schema.get("properties", {})}
    return schema


def _tool_choice(choice: str, names: set[str]) -> dict[str, Any]:
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if choice in names:
        return {"type": "tool", "name": choice}
    return {"type": "auto"}


def tool_input(arguments: str) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments)
    except ValueError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"INVALID_JSON": arguments}


def encode_messages(history: Iterable[Message]) -> tuple[list[dict[str, Any]], list[str]]:
    """Alternating turns for ``history`` and the tool names its calls use."""
    turns: list[dict[str, Any]] = []
    pending: dict[str, str] = {}  # stored call id -> wire id, of the last assistant turn
    seen_ids: set[str] = set()
    used: list[str] = []
    for msg in history:
        if msg.role == "assistant":
            merge = bool(turns) and turns[-1]["role"] == "assistant"
            blocks, ids = _assistant_blocks(msg, seen_ids, merge=merge)
            pending = {**pending, **ids} if merge else ids
            used.extend(c.name for c in msg.tool_calls if c.name not in used)
            _append(turns, "assistant", blocks)
        elif msg.role == "tool":
            wire_id = pending.pop(msg.tool_call_id or "", None)
            if wire_id is None:  # its call is not in the window: keep the text
                _append(
                    turns, "user", _text_block(f"[tool result{_named(msg)}] {msg.content or ''}")
                )
            else:
                _append(turns, "user", [_tool_result(wire_id, msg.content, msg.is_error)])
        else:
            _append(turns, "user", _text_block(msg.content))
    return _finish(turns), used


def _named(msg: Message) -> str:
    return f" {msg.name}" if msg.name else ""


def _assistant_blocks(
    msg: Message, seen: set[str], *, merge: bool
) -> tuple[list[Block], dict[str, str]]:
    blocks: list[Block] = []
    if not (msg.content and msg.content.strip()) and not msg.tool_calls:
        return [], {}  # nothing to replay (reasoning alone is not a turn)
    signature = plain_signature(msg.reasoning_signature)
    if msg.reasoning and signature and not merge:
        blocks.append({"type": "thinking", "thinking": msg.reasoning, "signature": signature})
    blocks.extend(_text_block(msg.content))
    ids: dict[str, str] = {}
    for call in msg.tool_calls:
        wire_id = _wire_id(call, seen)
        ids[call.id] = wire_id
        blocks.append(
            {
                "type": "tool_use",
                "id": wire_id,
                "name": call.name,
                "input": tool_input(call.arguments),
            }
        )
    return blocks, ids


def _wire_id(call: ToolCall, seen: set[str]) -> str:
    base = _BAD_ID_CHARS.sub("_", call.id) or "toolu"
    wire_id, n = base, 1
    while wire_id in seen:
        n += 1
        wire_id = f"{base}_{n}"
    seen.add(wire_id)
    return wire_id


def _text_block(text: str | None) -> list[Block]:
    return [{"type": "text", "text": text}] if text and text.strip() else []


def _tool_result(wire_id: str, content: str | None, is_error: bool) -> Block:
    block: Block = {"type": "tool_result", "tool_use_id": wire_id, "is_error": bool(is_error)}
    if content and content.strip():
        block["content"] = content
    return block


def _append(turns: list[dict[str, Any]], role: str, blocks: list[Block]) -> None:
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": list(blocks)})


def _finish(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Answer unanswered calls, put tool results first, open with a user turn."""
    out: list[dict[str, Any]] = []
    for i, turn in enumerate(turns):
        if turn["role"] == "user":
            blocks = turn["content"]
            blocks.sort(key=lambda b: b["type"] != "tool_result")  # stable: results first
            out.append(turn)
            continue
        if not out:
            out.append({"role": "user", "content": [{"type": "text", "text": OPENING}]})
        out.append(turn)
        call_ids = [b["id"] for b in turn["content"] if b["type"] == "tool_use"]
        following = turns[i + 1] if i + 1 < len(turns) else None
        answered = {
            b.get("tool_use_id")
            for b in (following or {}).get("content", [])
            if b["type"] == "tool_result"
        }
        missing = [_tool_result(c, NO_RESULT, True) for c in call_ids if c not in answered]
        if missing and following is not None:
            following["content"][:0] = missing
        elif missing:
            out.append({"role": "user", "content": missing})
    if not out:
        out.append({"role": "user", "content": [{"type": "text", "text": OPENING}]})
    last = out[-1]
    if last["role"] == "assistant" and last["content"][-1]["type"] == "text":
        last["content"][-1]["text"] = last["content"][-1]["text"].rstrip()
    return out
