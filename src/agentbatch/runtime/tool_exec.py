"""Tools whose results come from outside the apply transaction: custom Python tools (the
sandbox pool; at-least-once) and ``conversation_search`` (a read of the agent's history)."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import select

from agentbatch.store.db import Database
from agentbatch.store.tables import messages
from agentbatch.tools.builtins import ToolResult

log = logging.getLogger(__name__)

SEARCH_PAGE = 5
MAX_RESULT_CHARS = 8000


def _truncate(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [truncated at {limit} characters]"


class ToolExecutor:
    """Runs custom tools in a lazily started sandbox pool; searches history."""

    def __init__(self, pool: Any | None = None, size: int | None = None) -> None:
        self._pool = pool
        self._size = size
        self._owns_pool = pool is None

    async def _get_pool(self) -> Any:
        if self._pool is None:
            from agentbatch.tools.sandbox import SandboxLimits, SandboxPool

            self._pool = SandboxPool(self._size, default_limits=SandboxLimits())
            await self._pool.start()
        return self._pool

    async def run_custom(
        self, tool: Any, agent_id: str, args: dict[str, Any], memory: dict[str, str]
    ) -> ToolResult:
        from agentbatch.tools.sandbox import SandboxCall, SandboxLimits

        settings = dict(tool.settings or {})
        limits = None
        if settings.get("timeout_s") or settings.get("memory_mb"):
            base = SandboxLimits()
            limits = SandboxLimits(
                timeout_s=float(settings.get("timeout_s") or base.timeout_s),
                memory_mb=int(settings.get("memory_mb") or base.memory_mb),
                cpu_s=base.cpu_s,
                max_output_bytes=base.max_output_bytes,
            )
        pool = await self._get_pool()
        result = await pool.run(
            SandboxCall(
                source=tool.source,
                function=tool.name,
                arguments=args,
                env=dict(settings.get("env") or {}),
                agent_id=agent_id,
                memory=memory,
                requirements=list(settings.get("requirements") or []),
                limits=limits,
            )
        )
        if not result.ok:
            return ToolResult(False, _truncate(result.error or "tool failed"))
        value = result.value
        text = (
            value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
        )
        return ToolResult(True, _truncate(text))

    async def conversation_search(
        self, db: Database, agent_id: str, args: dict[str, Any]
    ) -> ToolResult:
        query = str(args.get("query", ""))
        page = int(args.get("page") or 0)
        if not query.strip():
            return ToolResult(False, "query must not be empty")
        async with db.read() as conn:
            rows = await conn.execute(
                select(messages.c.id, messages.c.role, messages.c.content, messages.c.created_at)
                .where(
                    messages.c.agent_id == agent_id,
                    messages.c.kind.in_(["input", "assistant", "tool"]),
                    messages.c.content.ilike(f"%{query}%"),
                )
                .order_by(messages.c.id.desc())
                .offset(page * SEARCH_PAGE)
                .limit(SEARCH_PAGE)
            )
            found = [
                {
                    "role": r.role,
                    "content": _truncate(r.content or "", 500),
                    "time": str(r.created_at),
                }
                for r in rows
            ]
        if not found:
            return ToolResult(True, f"No messages match {query!r} (page {page}).")
        return ToolResult(True, json.dumps(found, ensure_ascii=False))

    async def aclose(self) -> None:
        if self._pool is not None and self._owns_pool:
            await self._pool.close()
            self._pool = None
