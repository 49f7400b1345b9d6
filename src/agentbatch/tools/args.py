"""A small JSON-schema argument check: required fields, known fields, basic types.

It catches what models get wrong (a missing field, a string for a number) and turns it into
a failed tool result with a clear message instead of a crash inside the tool."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def check_arguments(schema: Mapping[str, Any], args: Mapping[str, Any]) -> str | None:
    """None if ``args`` fit ``schema`` (an object schema), else the first problem found."""
    props: Mapping[str, Any] = schema.get("properties") or {}
    for name in schema.get("required") or ():
        if name not in args:
            return f"missing required argument {name!r}"
    if schema.get("additionalProperties") is False:
        extra = sorted(set(args) - set(props))
        if extra:
            return f"unexpected argument(s): {', '.join(extra)}"
    for name, value in args.items():
        spec = props.get(name)
        if not isinstance(spec, Mapping):
            continue
        enum = spec.get("enum")
        if enum is not None and value not in enum:
            return f"argument {name!r} must be one of {enum}"
        expected = spec.get("type")
        if value is None and (expected == "null" or name not in (schema.get("required") or ())):
            continue
        kinds = expected if isinstance(expected, list) else [expected] if expected else []
        py_types = tuple(t for k in kinds for t in _TYPES.get(k, ()))
        if not py_types:
            continue
        if isinstance(value, bool) and bool not in py_types:
            return f"argument {name!r} must be {'/'.join(kinds)}, got boolean"
        if not isinstance(value, py_types):
            return f"argument {name!r} must be {'/'.join(kinds)}, got {type(value).__name__}"
    return None
