"""Grammar for one tool call: ``{"name": <allowed tool>, "arguments": {...}}``.

The call schema is a ``oneOf`` over the allowed tools, each branch fixing ``name`` with
``const`` and ``arguments`` with that tool's parameter schema. Before conversion the
parameter schemas are copied with caps (string length, array length, no extra properties,
``request_heartbeat`` required) so that a small model on a CPU answers quickly. The GBNF
comes from llama.cpp's own JSON-schema converter, with its generic rules bounded:
strings cannot hold raw control characters (invalid JSON) and free-form values (``{}``,
``{"type": "object"}`` without properties, arrays without ``items``) are flat and short.
Every grammar therefore accepts only finitely long output, bounded by
:func:`max_output_chars`, and generation cannot be cut off mid-call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from agentbatch.domain.model_io import ToolSpec

HEARTBEAT = "request_heartbeat"
MAX_STRING_CHARS = 80
MAX_ARRAY_ITEMS = 3
FREE_STRING_CHARS = 40
FREE_MEMBERS = 4
MAX_OUTPUT_TOKENS = 1024

# Replacements for the converter's generic rules (by rule name; a user schema's own rules
# never take these names). No \uXXXX escapes: raw UTF-8 is valid JSON and shorter.
_BOUNDED_RULES = {
    "char": r"""[^"\\\x7F\x00-\x1F] | "\\" ["\\/bfnrt]""",
    "string": rf""""\"" char{{0,{FREE_STRING_CHARS}}} "\"" space""",
    "value": "object | array | free-leaf",
    "object": (
        '"{" space ( string ":" space free-leaf '
        f'("," space string ":" space free-leaf){{0,{FREE_MEMBERS - 1}}} )? "}}" space'
    ),
    "array": f'"[" space ( free-leaf ("," space free-leaf){{0,{FREE_MEMBERS - 1}}} )? "]" space',
}
_FREE_LEAF = "free-leaf ::= string | number | boolean | null"
_ESCAPED_CHAR_MAX = 2  # \n
_NUMBER_MAX = 56  # -, 16 digits, ., 16 digits, e, sign, 16 digits, space
_FREE_STRING_MAX = FREE_STRING_CHARS * _ESCAPED_CHAR_MAX + 3
_FREE_LEAF_MAX = max(_FREE_STRING_MAX, _NUMBER_MAX)
_FREE_OBJECT_MAX = 4 + FREE_MEMBERS * (_FREE_STRING_MAX + 4 + _FREE_LEAF_MAX)
_FREE_ARRAY_MAX = 4 + FREE_MEMBERS * (_FREE_LEAF_MAX + 2)

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not")


def capped(schema: Any, *, max_string: int = MAX_STRING_CHARS) -> Any:
    """A copy of a JSON schema with string/array caps, closed objects, single types."""
    if not isinstance(schema, Mapping):
        return schema
    out = dict(schema)
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), Mapping):
            out[key] = {n: capped(s, max_string=max_string) for n, s in out[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [capped(s, max_string=max_string) for s in out[key]]
    for key in _SCHEMA_VALUES:
        if isinstance(out.get(key), Mapping):
            out[key] = capped(out[key], max_string=max_string)
    kind = out.get("type")
    if isinstance(kind, list):  # the converter drops every other keyword of a type list
        return {"anyOf": [capped({**out, "type": t}, max_string=max_string) for t in kind]}
    if kind == "string" and not ({"enum", "const", "format", "pattern"} & set(out)):
        shortest = int(out.get("minLength", 0))
        out["maxLength"] = max(min(int(out.get("maxLength", max_string)), max_string), shortest)
    if kind == "array":
        fewest = int(out.get("minItems", 0))
        most = min(int(out.get("maxItems", MAX_ARRAY_ITEMS)), MAX_ARRAY_ITEMS)
        out["maxItems"] = max(most, fewest)
    if isinstance(out.get("properties"), Mapping):
        out["additionalProperties"] = False
    return out


def arguments_schema(tool: ToolSpec, *, max_string: int = MAX_STRING_CHARS) -> dict[str, Any]:
    """The tool's parameter schema as the grammar enforces it."""
    schema = dict(capped(dict(tool.parameters), max_string=max_string))
    schema.setdefault("type", "object")
    properties = schema.setdefault("properties", {})
    schema["additionalProperties"] = False
    required = list(schema.get("required") or [])
    if HEARTBEAT in properties and HEARTBEAT not in required:
        required.append(HEARTBEAT)
    schema["required"] = required
    return schema


def call_schema(tools: Sequence[ToolSpec], *, max_string: int = MAX_STRING_CHARS) -> dict[str, Any]:
    """JSON schema of one call to any of ``tools``."""
    if not tools:
        raise ValueError("a tool call needs at least one allowed tool")
    branches = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool.name},
                "arguments": arguments_schema(tool, max_string=max_string),
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for tool in tools
    ]
    return branches[0] if len(branches) == 1 else {"oneOf": branches}


@lru_cache(maxsize=256)
def _gbnf_for(schema_json: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    lines = str(json_schema_to_gbnf(schema_json)).splitlines()
    out = []
    for line in lines:
        name, sep, _ = line.partition(" ::= ")
        out.append(f"{name} ::= {_BOUNDED_RULES[name]}" if sep and name in _BOUNDED_RULES else line)
    if any(line.startswith("value ::= ") for line in out):
        out.append(_FREE_LEAF)
    return "\n".join(out)


def gbnf(schema: Mapping[str, Any]) -> str:
    """GBNF text for ``schema`` (cached on its canonical JSON)."""
    return _gbnf_for(json.dumps(schema, separators=(",", ":")))


def max_output_chars(schema: Any) -> int:
    """An upper bound on the characters of any JSON that ``gbnf(schema)`` accepts (except
    under a user ``pattern``, which is guessed). Every token is at least one character, so
    this also bounds the tokens generated.
    """
    if not isinstance(schema, Mapping) or not schema:
        return max(_FREE_OBJECT_MAX, _FREE_ARRAY_MAX, _FREE_LEAF_MAX)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return max(max_output_chars(s) for s in schema[key])
    if "const" in schema:
        return len(json.dumps(schema["const"])) + 1
    if "enum" in schema:
        return max(len(json.dumps(v)) for v in schema["enum"]) + 1
    kind = schema.get("type")
    if kind == "string":
        if "maxLength" not in schema:
            return 200 if "pattern" in schema else 48  # formats are short; patterns: a guess
        return int(schema["maxLength"]) * _ESCAPED_CHAR_MAX + 3
    if kind in ("integer", "number"):
        return _NUMBER_MAX
    if kind in ("boolean", "null"):
        return 6
    if kind == "array":
        if not isinstance(schema.get("items"), Mapping):
            return _FREE_ARRAY_MAX
        per_item = max_output_chars(schema["items"]) + 2
        return 4 + int(schema.get("maxItems", FREE_MEMBERS)) * per_item
    properties = schema.get("properties")
    if isinstance(properties, Mapping) and properties:
        return 4 + sum(len(json.dumps(n)) + 5 + max_output_chars(s) for n, s in properties.items())
    return _FREE_OBJECT_MAX


def output_token_cap(schema: Mapping[str, Any]) -> int:
    """``max_tokens`` for a call: the grammar's bound, within :data:`MAX_OUTPUT_TOKENS`."""
    return min(max_output_chars(schema) + 8, MAX_OUTPUT_TOKENS)
