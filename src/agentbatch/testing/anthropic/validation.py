"""What the Anthropic Message Batches API checks, and when.

``check_create`` is the synchronous part (an HTTP 400 at create): the request list, each
``custom_id`` and the presence of the required ``params``. ``check_params`` is the
asynchronous part: the Messages API validation that the real service runs per request while
the batch processes; a failure becomes that item's ``errored`` result with an
``invalid_request_error``. Both return a message in the API's ``path: reason`` style.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agentbatch.testing.anthropic.blocks import Invalid, cache_control, check_text
from agentbatch.testing.anthropic.turns import check_messages

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_BREAKPOINTS = 4
KNOWN_PARAMS = frozenset(
    [
        "model",
        "max_tokens",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "metadata",
        "thinking",
        "stream",
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
        "output_config",
        "inference_geo",
    ]
)


def check_create(body: Any, max_requests: int) -> list[Mapping[str, Any]]:
    """The create-time checks; returns the request list or raises Invalid."""
    if not isinstance(body, Mapping):
        raise Invalid("body: Input should be a valid dictionary")
    requests = body.get("requests")
    if not isinstance(requests, list):
        raise Invalid("requests: Field required")
    if not requests:
        raise Invalid("requests: List should have at least 1 item after validation, not 0")
    if len(requests) > max_requests:
        raise Invalid(
            f"requests: List should have at most {max_requests} items, not {len(requests)}"
        )
    seen: set[str] = set()
    for i, req in enumerate(requests):
        if not isinstance(req, Mapping):
            raise Invalid(f"requests.{i}: Input should be a valid dictionary")
        cid = req.get("custom_id")
        if not isinstance(cid, str) or not CUSTOM_ID.match(cid):
            raise Invalid(
                f"requests.{i}.custom_id: String should match pattern '{CUSTOM_ID.pattern}'"
            )
        if cid in seen:
            raise Invalid(
                f"requests.{i}.custom_id: duplicate custom_id {cid!r}; custom_id must be unique within a batch"
            )
        seen.add(cid)
        params = req.get("params")
        if not isinstance(params, Mapping):
            raise Invalid(f"requests.{i}.params: Field required")
        for key in ("model", "max_tokens", "messages"):
            if key not in params:
                raise Invalid(f"requests.{i}.params.{key}: Field required")
        if params.get("stream"):
            raise Invalid(
                f"requests.{i}.params.stream: streaming is not supported in Message Batches"
            )
    return requests


def check_params(params: Mapping[str, Any], *, verify_signatures: bool = True) -> None:
    """The per-request Messages API checks; raises Invalid with the first problem."""
    for key in params:
        if key not in KNOWN_PARAMS:
            raise Invalid(f"{key}: Extra inputs are not permitted")
    model, max_tokens = params.get("model"), params.get("max_tokens")
    if not isinstance(model, str) or not model:
        raise Invalid("model: Input should be a valid string")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise Invalid("max_tokens: Input should be greater than or equal to 1")
    _check_sampling(params)
    metadata = params.get("metadata")
    if metadata is not None:
        user_id = metadata.get("user_id") if isinstance(metadata, Mapping) else 0
        if user_id is not None and (not isinstance(user_id, str) or len(user_id) > 256):
            raise Invalid("metadata.user_id: Input should be a string of at most 256 characters")
    breakpoints: list[str] = []  # each breakpoint's ttl, in render order
    tool_names = _check_tools(params.get("tools"), breakpoints)
    _check_tool_choice(params.get("tool_choice"), tool_names)
    _check_system(params.get("system"), breakpoints)
    check_messages(
        params.get("messages"),
        breakpoints,
        has_tools=bool(tool_names),
        verify_signatures=verify_signatures,
    )
    if len(breakpoints) > MAX_BREAKPOINTS:
        raise Invalid(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(breakpoints)}."
        )
    if "5m" in breakpoints and "1h" in breakpoints[breakpoints.index("5m") :]:
        raise Invalid("cache_control: a ttl='1h' breakpoint must not come after a ttl='5m' one")


def _check_sampling(params: Mapping[str, Any]) -> None:
    temp = params.get("temperature")
    if temp is not None and (not isinstance(temp, int | float) or not 0 <= temp <= 1):
        raise Invalid("temperature: Input should be less than or equal to 1")
    thinking = params.get("thinking")
    if thinking is None:
        return
    if not isinstance(thinking, Mapping) or thinking.get("type") not in (
        "enabled",
        "disabled",
        "adaptive",
    ):
        raise Invalid("thinking: Input tag does not match any of the expected tags")
    if thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise Invalid(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            )
        if budget >= params["max_tokens"]:
            raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
        if temp is not None and temp != 1:
            raise Invalid("`temperature` may only be set to 1 when thinking is enabled")


def _check_tools(tools: Any, breakpoints: list[str]) -> set[str]:
    if tools is None:
        return set()
    if not isinstance(tools, list):
        raise Invalid("tools: Input should be a valid list")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise Invalid(f"tools.{i}: Input should be a valid dictionary")
        name = tool.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            raise Invalid(
                f"tools.{i}.custom.name: String should match pattern '{TOOL_NAME.pattern}'"
            )
        if name in names:
            raise Invalid(f"tools: Tool names must be unique. Duplicate: {name!r}")
        names.add(name)
        if tool.get("type") not in (None, "custom"):
            continue  # a server tool (web search, ...): its own schema, not checked here
        schema = tool.get("input_schema")
        if not isinstance(schema, Mapping) or schema.get("type") != "object":
            raise Invalid(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
        if "description" in tool and not isinstance(tool["description"], str):
            raise Invalid(f"tools.{i}.custom.description: Input should be a valid string")
        cache_control(tool, f"tools.{i}.custom", breakpoints, True)
    return names


def _check_tool_choice(choice: Any, tool_names: set[str]) -> None:
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, Mapping) else None
    if kind not in ("auto", "any", "tool", "none"):
        raise Invalid(
            "tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'"
        )
    dpt = choice.get("disable_parallel_tool_use")
    if dpt is not None and not isinstance(dpt, bool):
        raise Invalid(
            f"tool_choice.{kind}.disable_parallel_tool_use: Input should be a valid boolean"
        )
    if kind in ("any", "tool") and not tool_names:
        raise Invalid(
            f"tool_choice.{kind}: tool_choice may only be specified while providing tools"
        )
    if kind == "tool" and (
        not isinstance(choice.get("name"), str) or choice["name"] not in tool_names
    ):
        raise Invalid(f"tool_choice.tool.name: tool {choice.get('name')!r} not found in tools")


def _check_system(system: Any, breakpoints: list[str]) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise Invalid("system: Input should be a valid string or list")
    for i, block in enumerate(system):
        if not isinstance(block, Mapping) or block.get("type") != "text":
            raise Invalid(f"system.{i}.type: Input should be 'text'")
        check_text(block, f"system.{i}")
        cache_control(block, f"system.{i}", breakpoints, True)
