"""Tools whose results come from outside the apply transaction: custom Python tools (the
sandbox pool; at-least-once) and ``conversation_search`` (a read of the agent's history)."""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any

from agentbatch.security_settings import SecuritySettings
from agentbatch.store import messages
from agentbatch.store.db import Database
from agentbatch.tools.builtins import ToolResult

if TYPE_CHECKING:
    from agentbatch.tools.sandbox import SandboxLimits, SandboxPool, SandboxResult

log = logging.getLogger(__name__)

SEARCH_PAGE = 5
MAX_RESULT_CHARS = 8000


def _truncate(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [truncated at {limit} characters]"


def _json_head_text(head: str) -> str:
    """The text of a cut JSON document: a cut string is decoded (as a whole return value
    that is a string is shown raw), anything else stays JSON text."""
    if head.startswith('"'):
        for cut in range(8):  # the cut may fall inside an escape (at most 6 characters)
            try:
                text = json.loads(head[: len(head) - cut] + '"')
            except ValueError:
                continue
            if isinstance(text, str):
                return text
    return head


def tools_disabled_message(problem: str) -> str:
    return (
        f"custom tools are disabled on this server: {problem}. An operator must install "
        "bubblewrap, or accept the weaker process sandbox with "
        "AGENTBATCH_ALLOW_UNSAFE_TOOLS=1 (see docs/security.md)"
    )


class ToolExecutor:
    """Runs custom tools in a lazily started sandbox pool; searches history.

    ``size`` is the pool's size: how many custom tool calls run at once across all agents
    (``RuntimeSettings.tool_concurrency``; default: the CPU count). ``max_result_chars``
    caps the text of a tool result the model sees; longer results are cut with a marker.
    ``default_limits`` are the sandbox limits of a tool that sets none of its own.
    ``security`` holds the operator's limits (default: from the environment): the pool's
    sandbox, per-organisation concurrency, and the most time, memory, output and
    processes a call may have; a tool's own settings above them are clamped.
    ``require_isolation`` (an authenticated server, ``agentbatch worker``): without
    bubblewrap, custom tools do not run unless the operator set
    ``AGENTBATCH_ALLOW_UNSAFE_TOOLS=1``; their calls fail with a message saying so.
    """

    def __init__(
        self,
        pool: SandboxPool | None = None,
        size: int | None = None,
        *,
        max_result_chars: int = MAX_RESULT_CHARS,
        default_limits: SandboxLimits | None = None,
        security: SecuritySettings | None = None,
        require_isolation: bool = False,
    ) -> None:
        if max_result_chars < 1:
            raise ValueError(f"max_result_chars must be positive, got {max_result_chars}")
        self._pool = pool
        self._size = size
        self._owns_pool = pool is None
        self.max_result_chars = max_result_chars
        self._default_limits = default_limits
        self.security = security or SecuritySettings.from_env()
        self.require_isolation = require_isolation

    @property
    def pool(self) -> SandboxPool | None:
        """The sandbox pool, once a custom tool has run (or the one given)."""
        return self._pool

    async def _get_pool(self) -> SandboxPool:
        if self._pool is None:
            from agentbatch.tools.sandbox import SandboxPool, VenvCache

            sec = self.security
            venvs = VenvCache(max_per_org=sec.tool_max_venvs, max_mb=sec.tool_max_venv_mb)
            self._pool = SandboxPool(
                self._size,
                default_limits=self._limits({}),
                backend=sec.sandbox,
                org_concurrency=sec.tool_org_concurrency,
                bwrap=sec.bwrap,
                cgroup=sec.sandbox_cgroup,
                network_allow=sec.tools_network_allow,
                venvs=venvs,
            )
            await self._pool.start()
        return self._pool

    def isolation_problem(self) -> str:
        """Why custom tools would run without bubblewrap here ("" when they would not)."""
        if self._pool is not None and self._pool.backend is not None:
            return "" if self._pool.backend == "bwrap" else self._pool.isolation_problem
        if self.security.sandbox == "process":
            return "the process sandbox was chosen (AGENTBATCH_SANDBOX=process)"
        from agentbatch.tools.sandbox.bwrap import probe

        return probe(self.security.bwrap)[1]

    def _limits(self, settings: dict[str, Any]) -> SandboxLimits:
        """The tool's own timeout and memory over the defaults, within the operator's
        maximums. The CPU limit is at least the timeout, so a tool given a long timeout is
        not cut by the default CPU limit."""
        from agentbatch.tools.sandbox import SandboxLimits

        sec = self.security
        defaults = SandboxLimits()
        base = self._default_limits or SandboxLimits(
            timeout_s=min(defaults.timeout_s, sec.tool_max_timeout_s),
            memory_mb=min(defaults.memory_mb, sec.tool_max_memory_mb),
            max_output_bytes=sec.tool_max_output_bytes,
            max_processes=sec.tool_max_processes,
        )
        timeout = min(float(settings.get("timeout_s") or base.timeout_s), sec.tool_max_timeout_s)
        return SandboxLimits(
            timeout_s=timeout,
            memory_mb=min(int(settings.get("memory_mb") or base.memory_mb), sec.tool_max_memory_mb),
            cpu_s=max(base.cpu_s, math.ceil(timeout)),
            max_output_bytes=base.max_output_bytes,
            max_processes=base.max_processes,
        )

    async def run_custom(
        self, tool: Any, agent_id: str, args: dict[str, Any], memory: dict[str, str]
    ) -> ToolResult:
        """Run one call of a custom tool in the sandbox; never raises for what the tool does.

        The call runs for the tool's organisation (``tool.org_id``): in that
        organisation's own workers and virtual environments, counted against its
        concurrency limit. The agent's id and a copy of its memory blocks go to the
        sandbox only when the function declares ``agent_id`` / ``memory`` (settings
        ``wants_agent_id`` / ``wants_memory``, derived from the source); tools registered
        before those settings existed get both, and the sandbox injects only what the
        function declares. ``allow_network`` holds only while the operator permits it.
        """
        from agentbatch.tools.sandbox import SandboxCall

        if self.require_isolation and not self.security.allow_unsafe_tools:
            problem = self.isolation_problem()
            if problem:
                return ToolResult(False, tools_disabled_message(problem))
        settings = dict(tool.settings or {})
        custom_limits = settings.get("timeout_s") or settings.get("memory_mb")
        pool = await self._get_pool()
        result = await pool.run(
            SandboxCall(
                source=tool.source,
                function=tool.name,
                arguments=args,
                env=dict(settings.get("env") or {}),
                agent_id=agent_id if settings.get("wants_agent_id", True) else None,
                memory=dict(memory) if settings.get("wants_memory", True) else None,
                requirements=list(settings.get("requirements") or []),
                limits=self._limits(settings) if custom_limits else None,
                allow_network=bool(settings.get("allow_network"))
                and self.security.tools_allow_network,
                org_id=getattr(tool, "org_id", None),
            )
        )
        return self._to_tool_result(result)

    def _to_tool_result(self, result: SandboxResult) -> ToolResult:
        limit = self.max_result_chars
        if not result.ok:
            if result.truncated and isinstance(result.value, str) and result.value:
                # A return value over the sandbox's byte cap comes back cut at the cap: the
                # model gets its beginning, like any other return value over the limit.
                head = _json_head_text(result.value)
                if len(head) > limit:
                    return ToolResult(True, _truncate(head, limit))
                return ToolResult(True, head + f"… [truncated: {result.error}]")
            return ToolResult(
                False,
                _truncate(result.error or "tool failed", limit),
                sandbox_crashed=result.sandbox_crashed,
            )
        value = result.value
        text = (
            value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
        )
        return ToolResult(True, _truncate(text, limit))

    async def conversation_search(
        self, db: Database, agent_id: str, args: dict[str, Any]
    ) -> ToolResult:
        query = str(args.get("query", ""))
        page = int(args.get("page") or 0)
        if not query.strip():
            return ToolResult(False, "query must not be empty")
        async with db.read() as conn:
            rows = await messages.search(
                conn, agent_id, query, offset=page * SEARCH_PAGE, limit=SEARCH_PAGE
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
