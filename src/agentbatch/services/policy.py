"""What a tenant may ask for: the checks every service path goes through.

Agents get their model from ``AgentService.create_agent``, ``AgentEditService.update_agent``
and ``AgentFileService.import_file``; custom tools come from ``ToolService.create_tool``,
``tool_updates.update_tool`` and ``AgentFileService.import_file``. The HTTP routes (ours
and the Letta-compatible ones), the CLI and the Python API all call those, and each of
those calls this one policy, so no route can skip a check:

- ``check_model``: a known provider, and the ``scripted/`` test model only where it is
  allowed (the Python API and the CLI; the HTTP API with ``AGENTBATCH_ALLOW_SCRIPTED=1``);
- ``check_tools_allowed``: registering custom tools needs real isolation on a server
  shared by organisations (bubblewrap, or ``AGENTBATCH_ALLOW_UNSAFE_TOOLS=1``): 403;
- ``check_tool``: a tool's limits within the operator's maximums, network access only
  where allowed, well-formed environment, requirements that are package names (422).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from agentbatch.domain.agents import split_handle
from agentbatch.errors import Forbidden, InvalidInput
from agentbatch.schemas import ToolCreate
from agentbatch.security_settings import SecuritySettings

MODEL_HANDLE_CHARS = 200


@dataclass
class TenantPolicy:
    """``scripted``: whether the ``scripted/`` test model may be used (the HTTP server
    sets it from ``AGENTBATCH_ALLOW_SCRIPTED``); ``isolation_problem``, when set (a server
    shared by organisations), says why custom tools would run without bubblewrap here."""

    security: SecuritySettings = field(default_factory=SecuritySettings)
    scripted: bool = True
    isolation_problem: Callable[[], str] | None = None

    def check_model(self, handle: str, where: str = "model") -> None:
        from agentbatch.providers.registry import known_providers

        if len(handle) > MODEL_HANDLE_CHARS:
            raise InvalidInput(
                f"{where}: {handle[:60]!r}... is longer than {MODEL_HANDLE_CHARS} characters"
            )
        try:
            provider, _ = split_handle(handle)
        except ValueError as exc:
            raise InvalidInput(f"{where}: {exc}") from None
        known = known_providers()
        if provider not in known:
            raise InvalidInput(
                f"{where}: unknown provider {provider!r} in model {handle!r}; "
                f"known: {', '.join(sorted(known))}"
            )
        if provider == "scripted" and not self.scripted:
            raise InvalidInput(
                f"{where}: the scripted/ test model is not available on this server (an "
                "operator can enable it with AGENTBATCH_ALLOW_SCRIPTED=1); give a provider "
                "model such as anthropic/claude-sonnet-4-5"
            )

    def check_tools_allowed(self) -> None:
        if self.isolation_problem is None or self.security.allow_unsafe_tools:
            return
        problem = self.isolation_problem()
        if problem:
            from agentbatch.runtime.tool_exec import tools_disabled_message

            raise Forbidden(tools_disabled_message(problem))

    def check_tool(self, spec: ToolCreate, where: str = "") -> list[str]:
        """The tool's requirements, normalised; refuses what the operator does not allow
        (``where`` prefixes the message: which tool of a file)."""
        from agentbatch.tools.sandbox.venvs import RequirementsError, normalize_requirements

        sec = self.security
        if spec.timeout_s and spec.timeout_s > sec.tool_max_timeout_s:
            raise InvalidInput(
                f"{where}timeout_s: at most {sec.tool_max_timeout_s:g} s on this server "
                "(AGENTBATCH_TOOL_MAX_TIMEOUT)"
            )
        if spec.memory_mb and spec.memory_mb > sec.tool_max_memory_mb:
            raise InvalidInput(
                f"{where}memory_mb: at most {sec.tool_max_memory_mb} MB on this server "
                "(AGENTBATCH_TOOL_MAX_MEMORY_MB)"
            )
        if spec.allow_network and not sec.tools_allow_network:
            raise InvalidInput(
                f"{where}allow_network: tools may not use the network on this server "
                "(AGENTBATCH_TOOLS_ALLOW_NETWORK)"
            )
        for name in spec.env:
            if "=" in name or "\0" in name or any("\0" in v for v in spec.env.values()):
                raise InvalidInput(f"{where}env: invalid variable name or value: {name[:40]!r}")
        try:
            return list(normalize_requirements(spec.requirements))
        except RequirementsError as exc:
            raise InvalidInput(f"{where}requirements: {exc}") from None
