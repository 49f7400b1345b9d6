"""Fast JSON for the hot paths (orjson): compact, UTF-8, same values as ``json``."""

from __future__ import annotations

import json
from typing import Any

import orjson


class RawJSON(str):
    """Text that is already JSON: written to a JSON column as is."""

    __slots__ = ()


def dumps(value: Any) -> str:
    """JSON text; strings that are not valid UTF-8 (lone surrogates) are escaped."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson refuses lone surrogates; the stdlib escapes them
        return json.dumps(value, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # escaped lone surrogates: valid JSON orjson refuses
        return json.loads(text)
