"""Observability: Prometheus metrics, OpenTelemetry traces (GenAI conventions), and logs
that carry job, run and provider-batch ids. ``default_observer()`` is the process's observer,
configured from the environment on first use."""

from __future__ import annotations

from agentbatch.observability.observer import Observer, PassInfo, metrics

_observer: Observer | None = None


def default_observer() -> Observer:
    """The process's observer (from ``OTEL_*`` / ``AGENTBATCH_*`` on first use)."""
    global _observer
    if _observer is None:
        _observer = Observer.from_env()
    return _observer


def set_observer(value: Observer | None) -> None:
    """Replace the process's observer (None: configure from the environment again)."""
    global _observer
    _observer = value


__all__ = ["Observer", "PassInfo", "default_observer", "metrics", "set_observer"]
