"""Built-in tools. Memory tools run against the pass's MemoryWorkspace inside the apply
transaction (exactly once); ``conversation_search`` (and ``conversation_search_date``)
reads the agent's own history and ``archival_memory_search`` its archive, answered before
the step is resolved (see runtime.apply); ``archival_memory_insert`` embeds its text
before and inserts the passage in the apply transaction (exactly once)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agentbatch.domain.model_io import ToolSpec
from agentbatch.step.workspace import MemoryWorkspace
from agentbatch.tools.archival import MEMORY_SEARCH_SPECS


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool returned: ``ok`` and the text output the model will see.

    ``sandbox_crashed``: a custom tool's call killed or broke its sandbox worker (not an
    ordinary failure of the tool); a runtime counts these per call and stops re-running
    a call that keeps doing it."""

    ok: bool
    output: str
    sandbox_crashed: bool = False
    # what an out-of-transaction part produced for a built-in that writes in the apply
    # transaction (archival_memory_insert: the passage's embedding, float32 bytes)
    data: bytes | None = None


def _obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


_S = {"type": "string"}

BUILTIN_SPECS: dict[str, ToolSpec] = {
    "send_message": ToolSpec(
        "send_message",
        "Send a message to the user. This is how you reply.",
        _obj({"message": {**_S, "description": "The message text."}}, ["message"]),
    ),
    "core_memory_append": ToolSpec(
        "core_memory_append",
        "Append text to one of your core memory blocks.",
        _obj(
            {
                "label": {**_S, "description": "Label of the memory block."},
                "content": {**_S, "description": "Text to append (on a new line)."},
            },
            ["label", "content"],
        ),
    ),
    "core_memory_replace": ToolSpec(
        "core_memory_replace",
        "Replace exact text in one of your core memory blocks.",
        _obj(
            {
                "label": {**_S, "description": "Label of the memory block."},
                "old_content": {**_S, "description": "Exact text to replace."},
                "new_content": {**_S, "description": "Replacement text (may be empty)."},
            },
            ["label", "old_content", "new_content"],
        ),
    ),
    "rethink_memory": ToolSpec(
        "rethink_memory",
        "Rewrite one of your core memory blocks completely with a new value.",
        _obj(
            {
                "target_block_label": {**_S, "description": "Label of the memory block."},
                "new_memory": {**_S, "description": "The block's complete new value."},
            },
            ["target_block_label", "new_memory"],
        ),
    ),
    "conversation_search": ToolSpec(
        "conversation_search",
        "Search your own past conversation (messages) for a text.",
        _obj(
            {
                "query": {**_S, "description": "Text to look for."},
                "page": {"type": "integer", "description": "Result page, from 0."},
            },
            ["query"],
        ),
    ),
}

BUILTIN_SPECS.update(MEMORY_SEARCH_SPECS)

MEMORY_TOOLS = frozenset({"core_memory_append", "core_memory_replace", "rethink_memory"})
# built-ins whose result (or part of it) comes from outside the apply transaction
ASYNC_BUILTINS = frozenset({"conversation_search", *MEMORY_SEARCH_SPECS})


def _show(block_label: str, value: str, limit: int) -> str:
    shown = value if len(value) <= 1000 else value[:1000] + "…"
    return f"Block {block_label!r} now holds {len(value)}/{limit} characters:\n{shown}"


def _write(
    ws: MemoryWorkspace,
    agent_id: str,
    label: Any,
    compute: Callable[[str], str | ToolResult],
    tool: str,
) -> ToolResult:
    if not isinstance(label, str):
        return ToolResult(False, "argument 'label' must be a string")
    block = ws.find(agent_id, label)
    if block is None:
        labels = ", ".join(ws.labels_of(agent_id)) or "none"
        return ToolResult(False, f"no memory block labelled {label!r} (blocks: {labels})")
    ws.touch(block)
    if block.read_only:
        return ToolResult(False, f"memory block {label!r} is read-only; nothing was changed")
    new_value = compute(block.value)
    if isinstance(new_value, ToolResult):
        return new_value
    if len(new_value) > block.limit:
        return ToolResult(
            False,
            f"the new value of {label!r} would be {len(new_value)} characters, over its limit "
            f"of {block.limit}; nothing was changed",
        )
    ws.write(block, new_value, tool=tool)
    return ToolResult(True, _show(label, new_value, block.limit))


def run_memory_tool(
    name: str, args: Mapping[str, Any], agent_id: str, ws: MemoryWorkspace
) -> ToolResult:
    """Apply one memory tool call to the workspace. Bad arguments become a failed result."""
    missing = [k for k in BUILTIN_SPECS[name].parameters["required"] if k not in args]
    if missing:
        return ToolResult(False, f"missing required argument {missing[0]!r}")
    if name == "core_memory_append":
        content = str(args["content"])
        return _write(
            ws, agent_id, args["label"], lambda v: f"{v}\n{content}" if v else content, name
        )
    if name == "core_memory_replace":
        old, new = str(args["old_content"]), str(args["new_content"])

        def replace(value: str) -> str | ToolResult:
            if not old:
                return ToolResult(False, "old_content must not be empty")
            if old not in value:
                return ToolResult(False, f"old_content {old!r} was not found in the block")
            return value.replace(old, new)

        return _write(ws, agent_id, args["label"], replace, name)
    if name == "rethink_memory":
        new_memory = str(args["new_memory"])
        return _write(ws, agent_id, args["target_block_label"], lambda _v: new_memory, name)
    raise KeyError(name)


def send_message_result(args: Mapping[str, Any]) -> ToolResult:
    return ToolResult(True, "Sent message successfully.")
