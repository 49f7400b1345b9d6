"""One sandboxed tool call and its outcome."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentbatch.tools.sandbox.limits import SandboxLimits


@dataclass(frozen=True, slots=True)
class SandboxCall:
    """Run ``function`` from ``source`` with ``arguments`` (keyword arguments).

    ``env`` is the complete environment the tool sees: nothing of the runtime's own
    environment is passed on. ``agent_id`` and ``memory`` are injected when the function
    declares parameters with those names (values the model put in ``arguments`` under
    those names are dropped). ``requirements`` are pip requirement strings: the call then
    runs in a cached virtual environment that has them. ``limits`` overrides the pool's
    defaults. ``org_id`` is the organisation the call runs for: its workers and virtual
    environments are its own, and the pool's ``org_concurrency`` counts its calls.
    """

    source: str
    function: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    agent_id: str | None = None
    memory: Mapping[str, str] | None = None
    requirements: tuple[str, ...] | list[str] = ()
    limits: SandboxLimits | None = None
    allow_network: bool = False
    org_id: str | None = None

    def to_wire(self, limits: SandboxLimits) -> dict[str, Any]:
        """The request the worker process reads (JSON-serialisable)."""
        return {
            "source": self.source,
            "function": self.function,
            "arguments": dict(self.arguments),
            "env": dict(self.env),
            "agent_id": self.agent_id,
            "memory": None if self.memory is None else dict(self.memory),
            "limits": limits.to_wire(),
        }

    def problem(self) -> str | None:
        """Why this call cannot be sent to a worker, or None."""
        if not isinstance(self.source, str) or not isinstance(self.function, str):
            return "source and function must be strings"
        if not isinstance(self.arguments, Mapping):
            return "arguments must be a mapping of parameter name to value"
        for key, value in self.env.items():
            if not isinstance(key, str) or not isinstance(value, str):
                return "env keys and values must be strings"
            if not key or "=" in key or "\0" in key or "\0" in value:
                return f"invalid environment variable name or value: {key!r}"
        return None


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """The outcome of one call.

    ``value`` is the function's return value in JSON form (values JSON cannot hold are
    replaced by their ``repr``). ``error`` is ``"<ExceptionType>: <message>"`` for an
    exception in the tool, or a sentence for a limit or a crash. ``stdout`` holds what the
    tool printed on stdout and stderr (and the traceback of an exception). ``truncated``
    is true when output or value went over ``max_output_bytes``.

    ``sandbox_crashed`` is true when the sandbox worker running the call died, hung or
    broke the protocol during the call (a tool that kills its worker, or its whole
    sandbox): unlike an exception, a limit or the tool process dying, that is the kind
    of failure a runtime should count, and stop re-running, per call.
    """

    ok: bool
    value: Any = None
    error: str | None = None
    stdout: str = ""
    duration_s: float = 0.0
    truncated: bool = False
    sandbox_crashed: bool = False

    @classmethod
    def failure(
        cls,
        error: str,
        *,
        duration_s: float = 0.0,
        stdout: str = "",
        sandbox_crashed: bool = False,
    ) -> SandboxResult:
        return cls(
            ok=False,
            error=error,
            stdout=stdout,
            duration_s=duration_s,
            sandbox_crashed=sandbox_crashed,
        )

    @classmethod
    def from_worker(cls, header: Mapping[str, Any], output: bytes, result: bytes) -> SandboxResult:
        """Build a result from a worker's reply: its header, the raw output and result.

        The worker sets ``error`` in the header when it ended the call (a limit) or the
        child died without a result; otherwise ``result`` is the child's JSON document.
        """
        stdout = output.decode("utf-8", "replace")
        duration = float(header.get("duration_s", 0.0))
        truncated = bool(header.get("truncated", False))
        if header.get("error"):
            return cls(False, None, str(header["error"]), stdout, duration, truncated)
        try:
            document = json.loads(result)
        except ValueError:
            document = None
        if not isinstance(document, dict) or "ok" not in document:
            return cls(False, None, "tool wrote an unreadable result", stdout, duration)
        error = document.get("error")
        return cls(
            ok=document["ok"] is True,
            value=document.get("value"),
            error=None if error is None else str(error),
            stdout=stdout,
            duration_s=duration,
            truncated=truncated or bool(document.get("truncated", False)),
        )
