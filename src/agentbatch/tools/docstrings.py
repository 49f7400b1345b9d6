"""Read a Google-style docstring: its first paragraph (the tool description) and the
per-parameter lines under ``Args:`` (also ``Arguments:``, ``Parameters:``, ``Params:``),
where an entry's continuation lines join its description."""

from __future__ import annotations

import re

_ARGS_HEADINGS = frozenset({"args:", "arguments:", "parameters:", "params:"})
_ARG_LINE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(docstring: str) -> tuple[str, dict[str, str]]:
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
