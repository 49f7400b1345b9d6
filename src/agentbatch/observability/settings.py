"""Observability settings, from the standard ``OTEL_*`` variables and ``AGENTBATCH_*`` ones.

Tracing is off unless the OpenTelemetry variables ask for it: ``OTEL_TRACES_EXPORTER``
naming an exporter other than ``none``, or an OTLP endpoint
(``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``);
``OTEL_SDK_DISABLED=true`` turns it off whatever else is set. Prompts, completions and
tool arguments and results go into spans only with
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from agentbatch.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
LOG_FORMATS = ("text", "json")


def _flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in _TRUE


def tracing_requested(env: Mapping[str, str]) -> bool:
    if _flag(env, "OTEL_SDK_DISABLED"):
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return any(e.strip() not in ("", "none") for e in exporters.split(","))
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


@dataclass(frozen=True)
class ObservabilitySettings:
    tracing: bool = False
    capture_content: bool = False  # prompts, completions, tool arguments and results
    log_format: str = "text"  # AGENTBATCH_LOG_FORMAT: text | json
    metrics: bool = True  # AGENTBATCH_METRICS=0 turns /metrics off
    metrics_token: str | None = None  # AGENTBATCH_METRICS_TOKEN: /metrics needs this bearer
    metrics_port: int | None = None  # AGENTBATCH_METRICS_PORT: `agentbatch worker` serves it

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ObservabilitySettings:
        env = os.environ if env is None else env
        log_format = (env.get("AGENTBATCH_LOG_FORMAT") or "text").strip().lower()
        if log_format not in LOG_FORMATS:
            raise ConfigError(f"AGENTBATCH_LOG_FORMAT must be text or json, not {log_format!r}")
        port_raw = (env.get("AGENTBATCH_METRICS_PORT") or "").strip()
        port = None
        if port_raw:
            if not port_raw.isdigit() or not 0 < int(port_raw) < 65536:
                raise ConfigError(f"AGENTBATCH_METRICS_PORT must be a port, not {port_raw!r}")
            port = int(port_raw)
        return cls(
            tracing=tracing_requested(env),
            capture_content=_flag(env, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"),
            log_format=log_format,
            metrics=_flag(env, "AGENTBATCH_METRICS", True),
            metrics_token=(env.get("AGENTBATCH_METRICS_TOKEN") or None),
            metrics_port=port,
        )
