"""The tracer: the OpenTelemetry SDK configured from the standard ``OTEL_*`` variables.

A batch runtime emits most spans after the fact: an agent step starts when its request
is recorded and ends when its result is applied, perhaps hours later, in another worker
process. Those spans are created with their recorded start and end times, and the ids
that tie them together are derived from our own ids (``trace_id_of``, ``span_id_of``):
a provider batch's span has the same id in every process, so a model call's span can
link to it before it is exported. ``ForcedIds`` hands the SDK such an id for the one span
about to start; every other span gets random ids as usual."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from hashlib import blake2b
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

from agentbatch import __version__
from agentbatch.errors import ConfigError

log = logging.getLogger(__name__)

EMPTY = Context()
SAMPLED = TraceFlags(TraceFlags.SAMPLED)
UNSET = Status(StatusCode.UNSET)
# a chunk of 2,000 steps makes ~8,000 spans at once: the SDK's default queue (2,048)
# would drop most of them
DEFAULT_QUEUE = 65_536


def trace_id_of(key: str) -> int:
    return int.from_bytes(blake2b(key.encode(), digest_size=16).digest(), "big") or 1


def span_id_of(key: str) -> int:
    return int.from_bytes(blake2b(key.encode(), digest_size=8).digest(), "big") or 1


def remote(trace_id: int, span_id: int) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=SAMPLED)


def parent(trace_id: int, span_id: int) -> Context:
    """A context whose current span is the (remote) span with these ids."""
    return trace.set_span_in_context(NonRecordingSpan(remote(trace_id, span_id)), EMPTY)


class ForcedIds(RandomIdGenerator):
    """Random ids, except for the next span when ``force`` named its ids."""

    def __init__(self) -> None:
        self.trace_id: int | None = None
        self.span_id: int | None = None

    def force(self, trace_id: int | None, span_id: int) -> None:
        self.trace_id, self.span_id = trace_id, span_id

    def clear(self) -> None:
        """After the forced span started (or was not, when the SDK is disabled)."""
        self.trace_id = self.span_id = None

    def is_trace_id_random(self) -> bool:
        return False  # some are derived from our ids (the W3C random flag stays off)

    def generate_trace_id(self) -> int:
        forced, self.trace_id = self.trace_id, None
        return forced if forced is not None else super().generate_trace_id()

    def generate_span_id(self) -> int:
        forced, self.span_id = self.span_id, None
        return forced if forced is not None else super().generate_span_id()


def _int_env(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    return int(raw) if raw.isdigit() else default


def _otlp_exporter(env: Mapping[str, str]) -> SpanExporter:
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError:
            raise ConfigError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs `pip install "
                "opentelemetry-exporter-otlp-proto-grpc`; http/protobuf works without it"
            ) from None
        exporter: SpanExporter = GrpcExporter()
        return exporter
    if protocol not in ("http/protobuf", "http"):
        raise ConfigError(f"unsupported OTLP protocol {protocol!r} (http/protobuf or grpc)")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def exporters_from_env(env: Mapping[str, str]) -> list[SpanExporter]:
    names = [
        n.strip().lower()
        for n in (env.get("OTEL_TRACES_EXPORTER") or "otlp").split(",")
        if n.strip() and n.strip().lower() != "none"
    ]
    out: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            out.append(_otlp_exporter(env))
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            out.append(ConsoleSpanExporter())
        else:
            from opentelemetry.util._importlib_metadata import entry_points

            found = list(entry_points(group="opentelemetry_traces_exporter", name=name))
            if not found:
                raise ConfigError(f"OTEL_TRACES_EXPORTER names {name!r}, which is not installed")
            out.append(found[0].load()())
    return out


class DirectSpans:
    """The bulk path: finished spans built as ``ReadableSpan``s and handed straight to the
    span processors (no live span, no per-span locks or attribute copies), for the
    thousands of step spans an apply chunk describes at once. The provider's sampler
    still decides, once per trace."""

    def __init__(self, provider: TracerProvider, processors: list[Any]) -> None:
        self.resource = provider.resource
        self.sampler = provider.sampler
        self.processors = processors
        self.scope = InstrumentationScope("agentbatch", __version__)
        self.random = RandomIdGenerator()

    def sampled(self, trace_id: int, name: str) -> bool:
        return self.sampler.should_sample(None, trace_id, name).decision.is_sampled()

    def context(self, trace_id: int, span_id: int | None = None) -> SpanContext:
        span_id = span_id if span_id is not None else self.random.generate_span_id()
        return SpanContext(trace_id, span_id, is_remote=False, trace_flags=SAMPLED)

    def emit(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        start: int,
        end: int,
        links: Sequence[Link] = (),
        status: Status | None = None,
    ) -> None:
        span = ReadableSpan(
            name=name,
            context=context,
            parent=parent,
            resource=self.resource,
            attributes=attributes,
            links=links,
            kind=kind,
            status=status or UNSET,
            start_time=start,
            end_time=end,
            instrumentation_scope=self.scope,
        )
        for processor in self.processors:
            processor.on_end(span)


def make_provider(
    exporters: list[SpanExporter], *, env: Mapping[str, str] | None = None, batch: bool = True
) -> tuple[TracerProvider, ForcedIds, DirectSpans]:
    """A tracer provider with our id generator, the resource from ``OTEL_SERVICE_NAME`` /
    ``OTEL_RESOURCE_ATTRIBUTES`` and the sampler from ``OTEL_TRACES_SAMPLER``."""
    env = os.environ if env is None else env
    ids = ForcedIds()
    attributes: dict[str, Any] = {"service.version": __version__}
    if not env.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = "agentbatch"
    provider = TracerProvider(resource=Resource.create(attributes), id_generator=ids)
    processors: list[Any] = []
    for exporter in exporters:
        if batch:
            processor: Any = BatchSpanProcessor(
                exporter,
                max_queue_size=_int_env(env, "OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_QUEUE),
            )
        else:
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            processor = SimpleSpanProcessor(exporter)
        provider.add_span_processor(processor)
        processors.append(processor)
    return provider, ids, DirectSpans(provider, processors)
