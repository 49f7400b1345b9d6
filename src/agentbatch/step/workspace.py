"""In-memory view of the memory blocks touched by one apply pass.

Writes land here one after another in a deterministic order, each against the latest
value, and the pass persists every changed block once at the end (bulk write)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agentbatch.domain.agents import BlockView


@dataclass(frozen=True, slots=True)
class Editor:
    """Who writes next: the step being resolved (set by the planner before each item)."""

    org_id: str
    agent_id: str
    run_id: str
    step: int


@dataclass(frozen=True, slots=True)
class BlockEdit:
    """One write to a block: its new version and value, by which step and tool."""

    block: BlockView
    editor: Editor | None
    tool: str | None


class MemoryWorkspace:
    def __init__(self, blocks: Iterable[BlockView], agent_blocks: Mapping[str, list[str]]) -> None:
        self._blocks = {b.id: b for b in blocks}
        self._agent_blocks = agent_blocks
        self.changed: dict[str, BlockView] = {}
        self.touched: set[str] = set()  # blocks a memory tool read to decide a write
        self._original_versions = {b.id: b.version for b in self._blocks.values()}
        self.editor: Editor | None = None
        self.edits: list[BlockEdit] = []  # every write, in order (the block history)

    def blocks_of(self, agent_id: str) -> list[BlockView]:
        return [self._blocks[b] for b in self._agent_blocks.get(agent_id, ()) if b in self._blocks]

    def find(self, agent_id: str, label: str) -> BlockView | None:
        for block in self.blocks_of(agent_id):
            if block.label == label:
                return block
        return None

    def labels_of(self, agent_id: str) -> list[str]:
        return [b.label for b in self.blocks_of(agent_id)]

    def touch(self, block: BlockView) -> None:
        self.touched.add(block.id)

    def write(self, block: BlockView, value: str, *, tool: str | None = None) -> BlockView:
        new = block.with_value(value)
        self._blocks[block.id] = new
        self.changed[block.id] = new
        self.edits.append(BlockEdit(new, self.editor, tool))
        return new

    def original_version(self, block_id: str) -> int:
        return self._original_versions[block_id]

    def original_versions(self) -> dict[str, int]:
        return dict(self._original_versions)

    def memory_dict(self, agent_id: str) -> dict[str, str]:
        return {b.label: b.value for b in self.blocks_of(agent_id)}
