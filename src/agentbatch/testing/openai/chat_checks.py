"""What the chat-completions endpoint answers with HTTP 400, as :class:`BadRequest`: a
missing model or messages, bad roles or message order (tool answers must follow the
assistant's ``tool_calls``), malformed tools and their schemas, a ``tool_choice`` without
tools, out-of-range ``max_tokens`` / ``temperature``, streaming. Inside a batch these become
an error-file line with ``response.status_code`` 400.
"""

from __future__ import annotations

import re
from typing import Any

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


class BadRequest(Exception):
    """An HTTP 400 answer: ``body`` is the error object's fields."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def check_chat_body(body: dict[str, Any]) -> None:
    """Raise BadRequest for what the chat-completions endpoint rejects with a 400."""
    for name in ("model", "messages"):
        if name not in body:
            raise BadRequest(
                f"Missing required parameter: '{name}'.", name, "missing_required_parameter"
            )
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise BadRequest("[] is too short - 'messages'", "messages", "empty_array")
    _check_messages(messages)
    tools = body.get("tools")
    names = _check_tools(tools) if tools is not None else set()
    choice = body.get("tool_choice")
    if choice is not None:
        if not names:
            raise BadRequest(
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                "tool_choice",
            )
        if isinstance(choice, dict):
            if (choice.get("function") or {}).get("name") not in names:
                raise BadRequest(
                    "Invalid value for 'tool_choice': unknown function name.",
                    "tool_choice",
                    "invalid_value",
                )
        elif choice not in ("auto", "required", "none"):
            raise BadRequest(
                f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', and 'required'.",
                "tool_choice",
                "invalid_value",
            )
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise BadRequest(
                f"Invalid '{name}': integer below minimum value.", name, "integer_below_min_value"
            )
    temperature = body.get("temperature")
    if temperature is not None and not (
        isinstance(temperature, int | float) and 0 <= temperature <= 2
    ):
        raise BadRequest(
            "Invalid 'temperature': must be between 0 and 2.", "temperature", "invalid_value"
        )
    if body.get("stream"):
        raise BadRequest("Streaming is not supported by this emulator.", "stream", "invalid_value")


def _unanswered(pending: list[str], index: int) -> BadRequest:
    return BadRequest(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to "
        "each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        + ", ".join(pending),
        f"messages.[{index}].role",
    )


def _check_messages(messages: list[Any]) -> None:
    pending: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise BadRequest(
                f"Invalid type for 'messages[{i}]': expected an object.",
                f"messages[{i}]",
                "invalid_type",
            )
        role = message.get("role")
        if role not in ROLES:
            supported = "'system', 'assistant', 'user', 'function', 'tool', and 'developer'"
            raise BadRequest(
                f"Invalid value: '{role}'. Supported values are: {supported}.",
                f"messages[{i}].role",
                "invalid_value",
            )
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                raise BadRequest(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            pending.remove(call_id)
            continue
        if pending:
            raise _unanswered(pending, i)
        if role == "assistant":
            pending = _check_assistant(message, i)
        elif not isinstance(message.get("content"), str | list):
            raise BadRequest(
                f"Invalid value for 'content': expected a string, got {message.get('content')!r}.",
                f"messages.[{i}].content",
            )
    if pending:
        raise _unanswered(pending, len(messages))


def _check_assistant(message: dict[str, Any], i: int) -> list[str]:
    calls = message.get("tool_calls") or []
    if message.get("content") is None and not calls:
        raise BadRequest(
            "Invalid value for 'content': expected a string, got null.", f"messages.[{i}].content"
        )
    ids: list[str] = []
    for j, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(function, dict)
            or call.get("type", "function") != "function"
            or not isinstance(call.get("id"), str)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), str)
        ):
            raise BadRequest(
                f"Invalid 'messages[{i}].tool_calls[{j}]'.",
                f"messages[{i}].tool_calls[{j}]",
                "invalid_value",
            )
        ids.append(call["id"])
    return ids


def _check_tools(tools: Any) -> set[str]:
    if not isinstance(tools, list):
        raise BadRequest("Invalid type for 'tools': expected an array.", "tools", "invalid_type")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type") != "function":
            raise BadRequest(f"Invalid value for 'tools[{i}]'.", f"tools[{i}]", "invalid_value")
        name = function.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise BadRequest(
                f"Invalid 'tools[{i}].function.name': string does not match pattern. "
                "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                f"tools[{i}].function.name",
                "invalid_value",
            )
        schema = function.get("parameters")
        if schema is not None:
            if not isinstance(schema, dict) or schema.get("type", "object") != "object":
                got = schema.get("type") if isinstance(schema, dict) else type(schema).__name__
                problem: str | None = (
                    f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{got}\"'."
                )
            else:
                problem = _schema_problem(schema)
            if problem:
                raise BadRequest(
                    f"Invalid schema for function '{name}': {problem}",
                    f"tools[{i}].function.parameters",
                    "invalid_function_parameters",
                )
        names.add(name)
    return names


def _schema_problem(schema: Any, path: str = "") -> str | None:
    if not isinstance(schema, dict):
        return f"{path or 'schema'} must be an object."
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for k in kinds:
        if k not in _JSON_TYPES:
            return f"{path or 'schema'}: '{k}' is not a valid JSON Schema type."
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            return f"{path or 'schema'}.properties must be an object."
        for key, sub in properties.items():
            problem = _schema_problem(sub, f"{path}.properties.{key}".lstrip("."))
            if problem:
                return problem
    if "items" in schema:
        return _schema_problem(schema["items"], f"{path}.items".lstrip("."))
    return None
