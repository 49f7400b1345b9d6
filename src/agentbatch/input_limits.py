"""Size and type limits of what callers send (docs/security.md lists them).

Every text field has a cap (``max_length`` in ``agentbatch.schemas``); every free-form
JSON value (metadata, model settings, tool parameters, job options, messages) is checked
here: integers must fit in 64 bits (the databases and the JSON encoder hold no more),
floats must be finite, nesting is at most :data:`MAX_JSON_DEPTH` deep, and its JSON text
is at most a given number of bytes. A value that breaks a limit is bad input (HTTP 422,
a CLI error), never a server error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_JSON_DEPTH = 32

# Caps, in characters for text and bytes of JSON text for JSON values.
NAME_CHARS = 200
ID_CHARS = 100
LABEL_CHARS = 100
DESCRIPTION_CHARS = 10_000
SYSTEM_CHARS = 200_000
BLOCK_VALUE_CHARS = 1_000_000
TOOL_SOURCE_CHARS = 200_000
MODEL_HANDLE_CHARS = 200
URL_CHARS = 2048
ENV_NAME_CHARS = 128
ENV_VALUE_CHARS = 8192
ENV_ENTRIES = 64
LIST_ITEMS = 256
METADATA_BYTES = 16 * 1024
MODEL_SETTINGS_BYTES = 16 * 1024
PARAMETERS_BYTES = 64 * 1024
TOOL_RULES_BYTES = 64 * 1024
OPTIONS_BYTES = 1024 * 1024
MESSAGES_BYTES = 4 * 1024 * 1024


def json_problem(value: Any, max_bytes: int | None = None) -> str | None:
    """Why ``value`` is not an acceptable JSON value, or None."""
    problem = _walk(value, 0)
    if problem is not None:
        return problem
    if max_bytes is not None:
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
        if size > max_bytes:
            return f"is {size} bytes of JSON; the limit is {max_bytes}"
    return None


def _walk(value: Any, depth: int) -> str | None:
    if depth > MAX_JSON_DEPTH:
        return f"is nested more than {MAX_JSON_DEPTH} levels deep"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            return "holds an integer outside the 64-bit range (-2^63 to 2^63-1)"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "holds NaN or an infinite number"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return "has an object key that is not a string"
            problem = _walk(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, (list, tuple)):
        for item in value:
            problem = _walk(item, depth + 1)
            if problem is not None:
                return problem
        return None
    return f"holds a value JSON cannot represent ({type(value).__name__})"


def _checker(max_bytes: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        problem = json_problem(value, max_bytes)
        if problem is not None:
            raise ValueError(f"value {problem}")
        return value

    return check


def json_field(max_bytes: int) -> AfterValidator:
    """A pydantic validator for a free-form JSON field of at most ``max_bytes``."""
    return AfterValidator(_checker(max_bytes))


Metadata = Annotated[dict[str, Any], json_field(METADATA_BYTES)]


def _model_settings(value: dict[str, Any]) -> dict[str, Any]:
    from agentbatch.domain.model_settings import settings_problem

    problem = settings_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# known keys with their types (agentbatch.domain.model_settings)
ModelSettings = Annotated[
    dict[str, Any], json_field(MODEL_SETTINGS_BYTES), AfterValidator(_model_settings)
]
Parameters = Annotated[dict[str, Any], json_field(PARAMETERS_BYTES)]
Options = Annotated[dict[str, Any], json_field(OPTIONS_BYTES)]
Messages = Annotated[Any, json_field(MESSAGES_BYTES)]
ToolRules = Annotated[list[dict[str, Any]], json_field(TOOL_RULES_BYTES)]
