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
from dataclasses import dataclass
from typing import Any

from agentbatch.domain.model_io import ToolSpec
from agentbatch.errors import InvalidInput
from agentbatch.tools.docstrings import parse_docstring
from agentbatch.tools.hint_schema import UnsupportedHint, schema_for_hint

RESERVED_PARAMETERS = frozenset({"agent_id", "memory"})

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
    description, arg_docs = parse_docstring(docstring)
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
            schema = schema_for_hint(arg.annotation)
        except UnsupportedHint as exc:
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
