"""The batch input file checked as OpenAI does: size, line count, JSON lines, each line's
envelope (``custom_id``, ``method``, ``url``, ``body.model``) and one model for the batch.

Problems become the batch's ``errors.data`` and the batch turns ``failed`` (never a 400 at
create); at most ``MAX_ERRORS`` are kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agentbatch.testing.openai.objects import InputItem

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
