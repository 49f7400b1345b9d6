"""A Python type hint (as an :mod:`ast` node, never evaluated) as a JSON schema.

Supported: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``, ``list[X]``,
``dict[str, X]``, ``tuple[X, ...]``, ``Optional[X]``, ``X | Y``, ``Union[...]``,
``Literal[...]``, ``Annotated[X, ...]``, their ``typing.`` spellings and string forward
references. Anything else raises :class:`UnsupportedHint` with a message for the user.
"""

from __future__ import annotations

import ast
from typing import Any

_SCALARS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "None": {"type": "null"},
    "NoneType": {"type": "null"},
    "Any": {},
    "object": {},
    "list": {"type": "array"},
    "List": {"type": "array"},
    "Sequence": {"type": "array"},
    "tuple": {"type": "array"},
    "Tuple": {"type": "array"},
    "dict": {"type": "object"},
    "Dict": {"type": "object"},
    "Mapping": {"type": "object"},
}
_ARRAYS = frozenset({"list", "List", "Sequence", "tuple", "Tuple"})
_OBJECTS = frozenset({"dict", "Dict", "Mapping"})


class UnsupportedHint(ValueError):
    """The hint cannot be turned into a JSON schema (the message says why)."""


def _dotted_name(node: ast.expr) -> str | None:
    """``str`` -> "str"; ``typing.Optional`` -> "Optional"; anything else -> None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and node.value is None:
        return "None"
    return None


def schema_for_hint(node: ast.expr) -> dict[str, Any]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            inner = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            raise UnsupportedHint(f"cannot read type hint {node.value!r}") from None
        return schema_for_hint(inner)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([*_union_members(node.left), *_union_members(node.right)])
    name = _dotted_name(node)
    if name is not None:
        if name in _SCALARS:
            return dict(_SCALARS[name])
        raise UnsupportedHint(f"unsupported type hint {ast.unparse(node)!r}")
    if isinstance(node, ast.Subscript):
        return _subscript_schema(node)
    raise UnsupportedHint(f"unsupported type hint {ast.unparse(node)!r}")


def _union_members(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return [*_union_members(node.left), *_union_members(node.right)]
    return [node]


def _subscript_schema(node: ast.Subscript) -> dict[str, Any]:
    origin = _dotted_name(node.value)
    items = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
    if origin in _ARRAYS:
        if origin in {"tuple", "Tuple"} and not (
            len(items) == 2 and isinstance(items[1], ast.Constant) and items[1].value is ...
        ):
            return {"type": "array", "prefixItems": [schema_for_hint(item) for item in items]}
        return {"type": "array", "items": schema_for_hint(items[0])}
    if origin in _OBJECTS:
        if len(items) != 2:
            raise UnsupportedHint(f"{ast.unparse(node)!r} needs key and value types")
        if schema_for_hint(items[0]) != {"type": "string"}:
            raise UnsupportedHint("dictionary keys must be str (JSON object keys are strings)")
        return {"type": "object", "additionalProperties": schema_for_hint(items[1])}
    if origin == "Optional":
        return _union([items[0], ast.Constant(value=None)])
    if origin == "Union":
        return _union(items)
    if origin == "Literal":
        return _literal(items)
    if origin == "Annotated":
        return schema_for_hint(items[0])
    raise UnsupportedHint(f"unsupported type hint {ast.unparse(node)!r}")


def _union(members: list[ast.expr]) -> dict[str, Any]:
    schemas = [schema_for_hint(member) for member in members]
    nullable = {"type": "null"} in schemas
    others = [schema for schema in schemas if schema != {"type": "null"}]
    if not others:
        return {"type": "null"}
    if len(others) == 1 and nullable:
        only = others[0]
        if isinstance(only.get("type"), str):
            merged = {**only, "type": [only["type"], "null"]}
            if "enum" in merged:
                merged["enum"] = [*merged["enum"], None]
            return merged
    if len(others) == 1:
        return others[0]
    return {"anyOf": others + ([{"type": "null"}] if nullable else [])}


_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number"}


def _literal(items: list[ast.expr]) -> dict[str, Any]:
    values: list[Any] = []
    for item in items:
        if not isinstance(item, ast.Constant) or not isinstance(
            item.value, str | int | float | bool | None
        ):
            raise UnsupportedHint(f"Literal values must be constants, not {ast.unparse(item)!r}")
        values.append(item.value)
    types: list[str] = []
    for value in values:
        json_type = "null" if value is None else _JSON_TYPES[type(value)]
        if json_type not in types:
            types.append(json_type)
    return {"type": types[0] if len(types) == 1 else types, "enum": values}
