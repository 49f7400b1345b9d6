"""Derive a tool's JSON schema from the Python source of one function.

Users register a custom tool as the source of ONE public function with type hints and a
Google-style docstring. This module reads that source with :mod:`ast` only: user code is
never imported or executed in the runtime process (it runs in the sandbox, see
:mod:`agentbatch.tools.sandbox`).

Rules:

* exactly one top-level public function (``def`` or ``async def``); helpers whose name starts
  with ``_``, imports, constants and classes are allowed;
* every parameter has a type hint; ``*args`` / ``**kwargs`` are rejected;
* supported hints: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``, ``list[X]``,
  ``dict[str, X]``, ``tuple[X, ...]``, ``Optional[X]``, ``X | Y``, ``Union[...]``,
  ``Literal[...]``, ``Annotated[X, ...]`` (also their ``typing.`` spellings and string
  forward references);
* a parameter with a default is optional; literal defaults go into the schema;
* the docstring's first paragraph is the description; lines under ``Args:`` give
  per-parameter descriptions;
* two reserved parameter names are injected by the runtime and left out of the schema:
  ``agent_id`` (the calling agent's id) and ``memory`` (a ``{label: value}`` copy of the
  agent's memory blocks).

Every problem raises :class:`ToolSourceError`, a :class:`ValueError` with a message meant
for the user.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

from agentbatch.domain.model_io import ToolSpec
from agentbatch.errors import InvalidInput

RESERVED_PARAMETERS = frozenset({"agent_id", "memory"})

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
_ARGS_HEADINGS = frozenset({"args:", "arguments:", "parameters:", "params:"})
_ARG_LINE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_MAX_NAME = 64


class ToolSourceError(InvalidInput, ValueError):
    """The tool source cannot be turned into a tool (the message says why)."""


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A custom tool derived from its source.

    ``parameters`` is a JSON-schema object (``type``, ``properties``, ``required``) without
    the reserved parameters; ``wants_agent_id`` / ``wants_memory`` say whether the function
    declares them, so the runtime knows what to inject.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    wants_agent_id: bool = False
    wants_memory: bool = False

    def spec(self) -> ToolSpec:
        """The tool as the model sees it."""
        return ToolSpec(self.name, self.description, self.parameters)


def derive_tool_schema(source: str) -> ToolDefinition:
    """Parse ``source`` and return the tool it defines; raise :class:`ToolSourceError`."""
    func = _the_public_function(source)
    name = func.name
    if len(name) > _MAX_NAME:
        raise ToolSourceError(f"function name {name!r} is longer than {_MAX_NAME} characters")
    docstring = ast.get_docstring(func, clean=True)
    if not docstring or not docstring.strip():
        raise ToolSourceError(
            f"function {name!r} has no docstring; its first paragraph becomes the tool "
            "description the model reads"
        )
    description, arg_docs = _parse_docstring(docstring)
    args = func.args
    if args.vararg is not None:
        raise ToolSourceError(f"function {name!r}: *{args.vararg.arg} is not supported")
    if args.kwarg is not None:
        raise ToolSourceError(f"function {name!r}: **{args.kwarg.arg} is not supported")

    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    params = list(zip(positional, defaults, strict=True))
    params += list(zip(args.kwonlyargs, args.kw_defaults, strict=True))

    properties: dict[str, Any] = {}
    required: list[str] = []
    wants: set[str] = set()
    for arg, default in params:
        if arg.arg in RESERVED_PARAMETERS:
            wants.add(arg.arg)
            continue
        if arg.annotation is None:
            raise ToolSourceError(
                f"parameter {arg.arg!r} of function {name!r} has no type hint; every "
                "parameter needs one (for example `city: str`)"
            )
        try:
            schema = _schema_for(arg.annotation)
        except ToolSourceError as exc:
            raise ToolSourceError(f"parameter {arg.arg!r} of function {name!r}: {exc}") from None
        if arg.arg in arg_docs:
            schema = {**schema, "description": arg_docs[arg.arg]}
        if default is None:
            required.append(arg.arg)
        else:
            literal = _literal_default(default)
            if literal is not _NO_LITERAL:
                schema = {**schema, "default": literal}
        properties[arg.arg] = schema

    return ToolDefinition(
        name=name,
        description=description,
        parameters={"type": "object", "properties": properties, "required": required},
        wants_agent_id="agent_id" in wants,
        wants_memory="memory" in wants,
    )


def _the_public_function(source: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ToolSourceError(
            f"tool source has a syntax error at line {exc.lineno}: {exc.msg}"
        ) from None
    except ValueError as exc:  # for example NUL bytes in the source
        raise ToolSourceError(f"tool source cannot be parsed: {exc}") from None
    public = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not node.name.startswith("_")
    ]
    if not public:
        raise ToolSourceError(
            "tool source defines no public function; define exactly one top-level function "
            "whose name does not start with '_'"
        )
    if len(public) > 1:
        names = ", ".join(repr(node.name) for node in public)
        raise ToolSourceError(
            f"tool source defines several public functions ({names}); define exactly one "
            "(prefix helpers with '_')"
        )
    return public[0]


def _parse_docstring(docstring: str) -> tuple[str, dict[str, str]]:
    """Return (first paragraph as one line, {parameter: description}) from a docstring."""
    lines = docstring.splitlines()
    first: list[str] = []
    for line in lines:
        if not line.strip():
            if first:
                break
            continue
        if line.strip().lower() in _ARGS_HEADINGS:
            break
        first.append(line.strip())
    arg_docs: dict[str, str] = {}
    in_args = False
    args_indent = 0
    current: str | None = None
    entry_indent = -1
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped.lower() in _ARGS_HEADINGS:
            in_args, args_indent, current, entry_indent = True, indent, None, -1
            continue
        if not in_args or not stripped:
            continue
        if indent <= args_indent:  # the next section ("Returns:") or prose ends Args
            in_args = False
            continue
        if entry_indent < 0:
            entry_indent = indent
        match = _ARG_LINE.match(stripped)
        if indent <= entry_indent and match:
            current = match.group(1)
            arg_docs[current] = match.group(2).strip()
        elif current is not None:
            arg_docs[current] = f"{arg_docs[current]} {stripped}".strip()
    return " ".join(first), arg_docs


def _dotted_name(node: ast.expr) -> str | None:
    """``str`` -> "str"; ``typing.Optional`` -> "Optional"; anything else -> None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and node.value is None:
        return "None"
    return None


def _schema_for(node: ast.expr) -> dict[str, Any]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            inner = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            raise ToolSourceError(f"cannot read type hint {node.value!r}") from None
        return _schema_for(inner)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([*_union_members(node.left), *_union_members(node.right)])
    name = _dotted_name(node)
    if name is not None:
        if name in _SCALARS:
            return dict(_SCALARS[name])
        raise ToolSourceError(f"unsupported type hint {ast.unparse(node)!r}")
    if isinstance(node, ast.Subscript):
        return _subscript_schema(node)
    raise ToolSourceError(f"unsupported type hint {ast.unparse(node)!r}")


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
            return {"type": "array", "prefixItems": [_schema_for(item) for item in items]}
        return {"type": "array", "items": _schema_for(items[0])}
    if origin in _OBJECTS:
        if len(items) != 2:
            raise ToolSourceError(f"{ast.unparse(node)!r} needs key and value types")
        if _schema_for(items[0]) != {"type": "string"}:
            raise ToolSourceError("dictionary keys must be str (JSON object keys are strings)")
        return {"type": "object", "additionalProperties": _schema_for(items[1])}
    if origin == "Optional":
        return _union([items[0], ast.Constant(value=None)])
    if origin == "Union":
        return _union(items)
    if origin == "Literal":
        return _literal(items)
    if origin == "Annotated":
        return _schema_for(items[0])
    raise ToolSourceError(f"unsupported type hint {ast.unparse(node)!r}")


def _union(members: list[ast.expr]) -> dict[str, Any]:
    schemas = [_schema_for(member) for member in members]
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
            raise ToolSourceError(f"Literal values must be constants, not {ast.unparse(item)!r}")
        values.append(item.value)
    types: list[str] = []
    for value in values:
        json_type = "null" if value is None else _JSON_TYPES[type(value)]
        if json_type not in types:
            types.append(json_type)
    return {"type": types[0] if len(types) == 1 else types, "enum": values}


class _NoLiteral:
    pass


_NO_LITERAL = _NoLiteral()


def _literal_default(node: ast.expr) -> Any:
    try:
        value = ast.literal_eval(node)
        json.dumps(value, allow_nan=False)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NO_LITERAL
    return value
