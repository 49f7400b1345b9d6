"""Built-in memory tools against the pass's MemoryWorkspace."""

from __future__ import annotations

import pytest

from agentbatch.domain.agents import BlockView
from agentbatch.step.workspace import MemoryWorkspace
from agentbatch.tools.builtins import (
    BUILTIN_SPECS,
    MEMORY_TOOLS,
    ToolResult,
    run_memory_tool,
    send_message_result,
)


def blocks() -> list[BlockView]:
    return [
        BlockView(id="b-notes-1", label="notes", value="likes tea", limit=100),
        BlockView(id="b-persona-1", label="persona", value="I am calm.", limit=100, read_only=True),
        BlockView(id="b-shared", label="team", value="", limit=100, version=3),
        BlockView(id="b-notes-2", label="notes", value="agent two notes", limit=100),
    ]


def workspace() -> MemoryWorkspace:
    return MemoryWorkspace(
        blocks(),
        {
            "a1": ["b-notes-1", "b-persona-1", "b-shared"],
            "a2": ["b-notes-2", "b-shared"],
        },
    )


def value(ws: MemoryWorkspace, agent: str, label: str) -> str:
    block = ws.find(agent, label)
    assert block is not None
    return block.value


def append(ws: MemoryWorkspace, agent: str, label: str, content: str) -> ToolResult:
    return run_memory_tool("core_memory_append", {"label": label, "content": content}, agent, ws)


# -- append / replace / rethink -------------------------------------------------------------


def test_append_adds_on_new_line() -> None:
    ws = workspace()
    result = append(ws, "a1", "notes", "hates coffee")
    assert result.ok, result.output
    assert value(ws, "a1", "notes") == "likes tea\nhates coffee"
    assert "likes tea\nhates coffee" in result.output
    assert "22/100" in result.output


def test_append_to_empty_block_has_no_leading_newline() -> None:
    ws = workspace()
    assert append(ws, "a1", "team", "first").ok
    assert value(ws, "a1", "team") == "first"


def test_replace_replaces_all_occurrences() -> None:
    ws = workspace()
    ws.write(ws.find("a1", "notes"), "tea, tea and more tea")
    result = run_memory_tool(
        "core_memory_replace",
        {"label": "notes", "old_content": "tea", "new_content": "juice"},
        "a1",
        ws,
    )
    assert result.ok, result.output
    assert value(ws, "a1", "notes") == "juice, juice and more juice"


def test_replace_with_empty_new_content_deletes() -> None:
    ws = workspace()
    result = run_memory_tool(
        "core_memory_replace",
        {"label": "notes", "old_content": " tea", "new_content": ""},
        "a1",
        ws,
    )
    assert result.ok
    assert value(ws, "a1", "notes") == "likes"


def test_replace_old_content_absent_fails_and_changes_nothing() -> None:
    ws = workspace()
    result = run_memory_tool(
        "core_memory_replace",
        {"label": "notes", "old_content": "coffee", "new_content": "x"},
        "a1",
        ws,
    )
    assert result.ok is False
    assert "not found" in result.output
    assert value(ws, "a1", "notes") == "likes tea"
    assert ws.changed == {}


def test_replace_empty_old_content_fails() -> None:
    ws = workspace()
    result = run_memory_tool(
        "core_memory_replace", {"label": "notes", "old_content": "", "new_content": "x"}, "a1", ws
    )
    assert result.ok is False
    assert ws.changed == {}


def test_rethink_rewrites_whole_block() -> None:
    ws = workspace()
    result = run_memory_tool(
        "rethink_memory", {"target_block_label": "notes", "new_memory": "fresh start"}, "a1", ws
    )
    assert result.ok
    assert value(ws, "a1", "notes") == "fresh start"
    assert "fresh start" in result.output


# -- failures change nothing --------------------------------------------------------------


def test_unknown_label_fails_listing_agents_labels() -> None:
    ws = workspace()
    result = append(ws, "a1", "diary", "x")
    assert result.ok is False
    assert "'diary'" in result.output
    for label in ("notes", "persona", "team"):
        assert label in result.output
    assert ws.changed == {}
    assert value(ws, "a1", "notes") == "likes tea"


def test_label_of_another_agents_block_is_unknown() -> None:
    ws = MemoryWorkspace(blocks(), {"a1": ["b-notes-1"], "a3": ["b-persona-1"]})
    result = append(ws, "a3", "notes", "sneaky")
    assert result.ok is False
    assert value(ws, "a1", "notes") == "likes tea"
    assert ws.changed == {}


def test_agent_without_blocks_fails_cleanly() -> None:
    ws = workspace()
    result = append(ws, "nobody", "notes", "x")
    assert result.ok is False
    assert "none" in result.output


def test_read_only_block_fails_unchanged() -> None:
    ws = workspace()
    result = run_memory_tool(
        "rethink_memory", {"target_block_label": "persona", "new_memory": "I am angry."}, "a1", ws
    )
    assert result.ok is False
    assert "read-only" in result.output
    assert value(ws, "a1", "persona") == "I am calm."
    assert ws.changed == {}


def test_over_limit_fails_unchanged_not_truncated() -> None:
    ws = workspace()
    result = append(ws, "a1", "notes", "x" * 95)
    assert result.ok is False
    assert "limit" in result.output and "100" in result.output
    assert value(ws, "a1", "notes") == "likes tea"
    assert ws.find("a1", "notes").version == 1
    assert ws.changed == {}


def test_exactly_at_limit_is_accepted() -> None:
    ws = workspace()
    result = run_memory_tool(
        "rethink_memory", {"target_block_label": "notes", "new_memory": "y" * 100}, "a1", ws
    )
    assert result.ok
    assert len(value(ws, "a1", "notes")) == 100


def test_non_string_label_fails() -> None:
    ws = workspace()
    result = run_memory_tool("core_memory_append", {"label": 3, "content": "x"}, "a1", ws)
    assert result.ok is False
    assert ws.changed == {}


def test_unknown_tool_name_raises() -> None:
    with pytest.raises(KeyError):
        run_memory_tool("core_memory_delete", {}, "a1", workspace())


# -- shared blocks, versions, changed --------------------------------------------------------


def test_shared_block_second_writer_sees_first_writers_value() -> None:
    ws = workspace()
    first = append(ws, "a1", "team", "from a1")
    second = append(ws, "a2", "team", "from a2")
    assert first.ok and second.ok
    assert first.output.endswith("from a1")
    assert "from a2" not in first.output
    assert second.output.endswith("from a1\nfrom a2")
    assert value(ws, "a1", "team") == "from a1\nfrom a2"
    assert value(ws, "a2", "team") == "from a1\nfrom a2"


def test_version_increments_per_write() -> None:
    ws = workspace()
    assert ws.find("a1", "team").version == 3
    append(ws, "a1", "team", "one")
    append(ws, "a2", "team", "two")
    run_memory_tool(
        "core_memory_replace",
        {"label": "team", "old_content": "one", "new_content": "uno"},
        "a1",
        ws,
    )
    assert ws.find("a1", "team").version == 6
    assert ws.original_version("b-shared") == 3


def test_changed_holds_only_changed_blocks() -> None:
    ws = workspace()
    append(ws, "a1", "team", "one")
    append(ws, "a2", "notes", "more")
    append(ws, "a1", "persona", "nope")  # read-only: fails
    append(ws, "a1", "diary", "nope")  # unknown: fails
    assert set(ws.changed) == {"b-shared", "b-notes-2"}
    assert ws.changed["b-shared"].value == "one"
    assert ws.changed["b-notes-2"].value == "agent two notes\nmore"
    # a2's "notes" is a different block from a1's
    assert value(ws, "a1", "notes") == "likes tea"


def test_memory_dict_reflects_writes() -> None:
    ws = workspace()
    append(ws, "a1", "team", "hi")
    assert ws.memory_dict("a1") == {"notes": "likes tea", "persona": "I am calm.", "team": "hi"}


# -- specs ---------------------------------------------------------------------------------


def test_builtin_specs_are_object_schemas_with_required_fields() -> None:
    for name, spec in BUILTIN_SPECS.items():
        assert spec.name == name
        assert spec.parameters["type"] == "object"
        for field in spec.parameters["required"]:
            assert field in spec.parameters["properties"]
    assert {"core_memory_append", "core_memory_replace", "rethink_memory"} <= MEMORY_TOOLS


def test_send_message_result_ok() -> None:
    assert send_message_result({"message": "hi"}).ok


def test_missing_argument_is_a_failed_result_not_an_exception() -> None:
    ws = workspace()
    result = run_memory_tool("core_memory_append", {"label": "notes"}, "a1", ws)
    assert result.ok is False
    assert ws.changed == {}
