"""What the emulator validates, as the real API does.

``check_input_file``: problems with the batch input file as a whole or with one line's
envelope. The batch turns ``failed`` with these as ``errors.data`` (never a 400 at create).

``check_chat_body``: problems the chat-completions endpoint answers with HTTP 400. Inside a
batch they become an error-file line with ``response.status_code`` 400.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from agentbatch.testing.openai.objects import InputItem

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
MAX_ERRORS = 100


def _err(
    code: str, message: str, line: int | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"code": code, "line": line, "message": message, "param": param}


@dataclass
class InputCheck:
    items: list[InputItem]
    errors: list[dict[str, Any]]
    model: str | None


def check_input_file(
    content: bytes, endpoint: str, *, max_bytes: int, max_requests: int
) -> InputCheck:
    """Parse and validate an input file for a batch on ``endpoint``."""
    if len(content) > max_bytes:
        message = (
            f"The input file is {len(content)} bytes; a batch accepts at most {max_bytes} bytes."
        )
        return InputCheck([], [_err("file_too_large", message)], None)
    lines = [(n, raw) for n, raw in enumerate(content.split(b"\n"), start=1) if raw.strip()]
    if not lines:
        return InputCheck([], [_err("empty_file", "The input file is empty.")], None)
    if len(lines) > max_requests:
        message = (
            f"The input file has {len(lines)} requests; a batch accepts at most {max_requests}."
        )
        return InputCheck([], [_err("too_many_tasks", message)], None)
    items: list[InputItem] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    model: str | None = None
    for number, raw in lines:
        if len(errors) >= MAX_ERRORS:
            break
        try:
            entry = json.loads(raw)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            errors.append(
                _err("invalid_json_line", "This line is not parseable as valid JSON.", number)
            )
            continue
        problem = _check_envelope(entry, endpoint, number, seen)
        if problem is None:
            body_model = entry["body"]["model"]
            if model is None:
                model = body_model
            elif body_model != model:
                problem = _err(
                    "mismatched_model",
                    f"The model '{body_model}' does not match the model '{model}' of the rest "
                    "of the batch. Each batch must contain requests for a single model.",
                    number,
                    "body.model",
                )
        if problem is not None:
            errors.append(problem)
            continue
        seen.add(entry["custom_id"])
        items.append(InputItem(number, entry["custom_id"], entry["body"]))
    return InputCheck(items, errors, model)


def _missing(param: str, line: int) -> dict[str, Any]:
    return _err(
        "missing_required_parameter", f"Missing required parameter: '{param}'.", line, param
    )


def _check_envelope(
    entry: dict[str, Any], endpoint: str, line: int, seen: set[str]
) -> dict[str, Any] | None:
    custom_id = entry.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return _missing("custom_id", line)
    if custom_id in seen:
        return _err(
            "duplicate_custom_id",
            "The custom_id for this request is a duplicate of another request. "
            "The custom_id parameter must be unique for each request in a batch.",
            line,
            "custom_id",
        )
    if "method" not in entry:
        return _missing("method", line)
    if entry["method"] != "POST":
        return _err("invalid_method", "Only the POST method is supported.", line, "method")
    if "url" not in entry:
        return _missing("url", line)
    if entry["url"] != endpoint:
        message = f"The URL '{entry['url']}' of this request does not match the batch endpoint '{endpoint}'."
        return _err("invalid_url", message, line, "url")
    body = entry.get("body")
    if not isinstance(body, dict):
        return _missing("body", line)
    if not isinstance(body.get("model"), str) or not body["model"]:
        return _missing("body.model", line)
    if endpoint == "/v1/chat/completions" and "messages" not in body:
        return _missing("body.messages", line)
    if endpoint == "/v1/responses" and "input" not in body:
        return _missing("body.input", line)
    return None


# -- chat completions body ---------------------------------------------------------------


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
