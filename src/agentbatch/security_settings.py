"""Operator settings for tenant isolation (``AGENTBATCH_*`` environment variables).

One frozen dataclass read once by ``from_env()``; docs/security.md lists every variable.
Defaults are the safe choice for a server shared by several organisations: the single-user
CLI needs none of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from agentbatch.errors import ConfigError
from agentbatch.net_guard import AddressPolicy

SANDBOX_BACKENDS = ("auto", "bwrap", "process")


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 0 or 1, got {raw!r}")


def _number(name: str, default: float, *, minimum: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, got {raw!r}")
    return value


def _list(name: str) -> tuple[str, ...]:
    raw = os.environ.get(name) or ""
    return tuple(part.strip() for part in raw.replace(";", ",").split(",") if part.strip())


@dataclass(frozen=True)
class SecuritySettings:
    """What tenants may do, and how hard the runtime holds them to it.

    Tools: ``sandbox`` picks the sandbox (``auto``: bubblewrap when it works, else the
    process sandbox); ``allow_unsafe_tools`` lets an authenticated HTTP server (and
    ``agentbatch worker``) run custom tools without bubblewrap. Per call, a tool may ask
    for at most ``tool_max_timeout_s`` and ``tool_max_memory_mb`` (more is refused when
    the tool is created, and clamped when it runs); ``tool_max_output_bytes`` caps what a
    call prints and returns; ``tool_max_processes`` caps its processes and threads;
    ``tool_org_concurrency`` caps the calls one organisation runs at once (None: the
    pool's size). ``tools_allow_network`` lets tools set ``allow_network``; such tools
    reach public addresses only, plus the CIDRs in ``tools_network_allow``. An
    organisation keeps at most ``tool_max_venvs`` virtual environments for its tools'
    requirements (the least recently used give way), each of at most
    ``tool_max_venv_mb`` (its download too).

    Callbacks: ``callback_allow`` lists CIDRs and host names that may be reached even
    when private; ``callback_allow_private`` (local development) lifts the address check.

    Models: ``allow_scripted`` lets HTTP clients use the ``scripted/`` test model.
    """

    sandbox: str = "auto"
    allow_unsafe_tools: bool = False
    tool_max_timeout_s: float = 120.0
    tool_max_memory_mb: int = 1024
    tool_max_output_bytes: int = 64 * 1024
    tool_max_processes: int = 64
    tool_org_concurrency: int | None = None
    tools_allow_network: bool = False
    tools_network_allow: tuple[str, ...] = ()
    tool_max_venvs: int = 10
    tool_max_venv_mb: int = 2048
    sandbox_cgroup: str | None = None
    bwrap: str = "bwrap"
    callback_allow: tuple[str, ...] = ()
    callback_allow_private: bool = False
    allow_scripted: bool = False

    def __post_init__(self) -> None:
        if self.sandbox not in SANDBOX_BACKENDS:
            raise ConfigError(
                f"AGENTBATCH_SANDBOX must be one of {', '.join(SANDBOX_BACKENDS)}, "
                f"got {self.sandbox!r}"
            )

    def callback_policy(self) -> AddressPolicy:
        """Where job callbacks may go: public addresses, the allow-list, or (local
        development) anywhere."""
        return AddressPolicy(self.callback_allow, allow_private=self.callback_allow_private)

    @classmethod
    def from_env(cls) -> SecuritySettings:
        d = cls()
        concurrency = os.environ.get("AGENTBATCH_TOOL_ORG_CONCURRENCY")
        return cls(
            sandbox=(os.environ.get("AGENTBATCH_SANDBOX") or d.sandbox).strip().lower(),
            allow_unsafe_tools=_flag("AGENTBATCH_ALLOW_UNSAFE_TOOLS", d.allow_unsafe_tools),
            tool_max_timeout_s=_number(
                "AGENTBATCH_TOOL_MAX_TIMEOUT", d.tool_max_timeout_s, minimum=0.1
            ),
            tool_max_memory_mb=int(
                _number("AGENTBATCH_TOOL_MAX_MEMORY_MB", d.tool_max_memory_mb, minimum=16)
            ),
            tool_max_output_bytes=int(
                _number("AGENTBATCH_TOOL_MAX_OUTPUT_BYTES", d.tool_max_output_bytes, minimum=1024)
            ),
            tool_max_processes=int(
                _number("AGENTBATCH_TOOL_MAX_PROCESSES", d.tool_max_processes, minimum=4)
            ),
            tool_org_concurrency=(
                int(_number("AGENTBATCH_TOOL_ORG_CONCURRENCY", 1, minimum=1))
                if concurrency and concurrency.strip()
                else None
            ),
            tools_allow_network=_flag("AGENTBATCH_TOOLS_ALLOW_NETWORK", d.tools_allow_network),
            tools_network_allow=_list("AGENTBATCH_TOOLS_NETWORK_ALLOW"),
            tool_max_venvs=int(_number("AGENTBATCH_TOOL_MAX_VENVS", d.tool_max_venvs, minimum=1)),
            tool_max_venv_mb=int(
                _number("AGENTBATCH_TOOL_MAX_VENV_MB", d.tool_max_venv_mb, minimum=16)
            ),
            sandbox_cgroup=os.environ.get("AGENTBATCH_SANDBOX_CGROUP") or None,
            bwrap=os.environ.get("AGENTBATCH_BWRAP") or d.bwrap,
            callback_allow=_list("AGENTBATCH_CALLBACK_ALLOW"),
            callback_allow_private=_flag(
                "AGENTBATCH_CALLBACK_ALLOW_PRIVATE", d.callback_allow_private
            ),
            allow_scripted=_flag("AGENTBATCH_ALLOW_SCRIPTED", d.allow_scripted),
        )
