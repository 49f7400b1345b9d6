"""Render core memory into the system message. Shared blocks render once per version."""

from __future__ import annotations

from collections.abc import Sequence

from agentbatch.domain.agents import BlockView


def render_block(block: BlockView) -> str:
    ro = " read_only=true" if block.read_only else ""
    desc = f"<description>{block.description}</description>\n" if block.description else ""
    return (
        f"<{block.label}>\n{desc}"
        f"<metadata>chars_current={len(block.value)} chars_limit={block.limit}{ro}</metadata>\n"
        f"<value>\n{block.value}\n</value>\n</{block.label}>"
    )


class MemoryRenderer:
    """Caches each block's rendering by (id, version): a block shared by 10,000 agents is
    rendered once per pass, not 10,000 times."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], str] = {}

    def block(self, block: BlockView) -> str:
        key = (block.id, block.version)
        text = self._cache.get(key)
        if text is None:
            text = self._cache[key] = render_block(block)
        return text

    def system_message(self, system: str, blocks: Sequence[BlockView]) -> str:
        if not blocks:
            return system
        body = "\n".join(self.block(b) for b in blocks)
        return (
            f"{system}\n\n<memory_blocks>\n"
            "The following memory blocks are currently in your core memory:\n\n"
            f"{body}\n</memory_blocks>"
        )
