"""Pre-flight: before a job is written, every provider its agents use must be configured
(keys, base URLs, the embedded model installed) and, unless skipped, reachable.

Each adapter says what it needs: ``check_config()`` (no network) and ``probe()`` (one cheap
authenticated call); every problem is reported at once, naming the variable to set."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from agentbatch.domain.agents import split_handle
from agentbatch.errors import ConfigError, ProviderError, UserError
from agentbatch.providers.base import BatchProvider
from agentbatch.providers.registry import ProviderRegistry

PROBE_TIMEOUT_S = 5.0


class PreflightError(UserError):
    """A provider the job needs is not configured or not reachable: nothing was written.

    ``exit_code`` (the CLI's): 2 when a setting must be fixed (bad input), 1 when every
    provider is configured but could not be reached (could not run; try again later)."""

    status_code = 422
    code = "provider_not_configured"

    def __init__(self, message: str, *, unreachable_only: bool = False) -> None:
        super().__init__(message)
        self.unreachable_only = unreachable_only
        self.exit_code = 1 if unreachable_only else 2
        if unreachable_only:
            self.status_code = 503
            self.code = "provider_unreachable"


def providers_of(models: Iterable[str]) -> dict[str, list[str]]:
    """provider name -> the model handles of the job that use it (sorted)."""
    out: dict[str, set[str]] = {}
    for model in models:
        provider, _ = split_handle(model)
        out.setdefault(provider, set()).add(model)
    return {p: sorted(m) for p, m in sorted(out.items())}


def _check_config(registry: ProviderRegistry, name: str) -> BatchProvider:
    provider = registry.get(name)  # some adapters check their settings when made
    provider.check_config()
    return provider


async def preflight(
    registry: ProviderRegistry, models: Iterable[str], *, probe: bool = True
) -> dict[str, list[str]]:
    """Check every provider these model handles use; raise ``PreflightError`` listing every
    problem (each naming the variable to set). Returns provider -> models checked."""
    used = providers_of(models)
    problems: list[str] = []
    misconfigured = False
    for name, handles in used.items():
        try:
            provider = _check_config(registry, name)
            if probe:
                await asyncio.wait_for(provider.probe(), PROBE_TIMEOUT_S)
        except (ConfigError, ProviderError, TimeoutError) as exc:
            misconfigured = misconfigured or isinstance(exc, ConfigError)
            detail = str(exc) or f"no answer within {PROBE_TIMEOUT_S:.0f} s"
            shown = ", ".join(handles[:3]) + (", ..." if len(handles) > 3 else "")
            problems.append(f"{detail} (used by {shown})")
    if problems:
        hint = " (--no-preflight skips only the reachability check)" if probe else ""
        raise PreflightError(
            "cannot submit: " + "; ".join(problems) + f"; nothing was submitted{hint}",
            unreachable_only=not misconfigured,
        )
    return used
