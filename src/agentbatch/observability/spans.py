"""Spans after the fact, following the OpenTelemetry GenAI semantic conventions.

* one trace per agent step (per batch item): ``invoke_agent {agent}`` (the step, from its
  request being recorded to its result being applied) → ``chat {model}`` (the model
  request, from the provider batch's submission to its result; linked to the provider
  batch's span) and ``execute_tool {tool}`` per tool call; ``gen_ai.conversation.id``
  (and ``session.id``) is the run, so a tracing UI groups an agent's steps;
* one trace per job (``observability.job_spans``); each step's ``invoke_agent`` links
  to its job's span.

Token usage follows the conventions: ``gen_ai.usage.input_tokens`` counts every input
token, cached ones included; ``gen_ai.usage.cache_read.input_tokens`` and
``gen_ai.usage.cache_creation.input_tokens`` say how many of them were cache reads and
writes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

from agentbatch.domain.model_io import ItemResult
from agentbatch.ids import as_utc
from agentbatch.observability.tracing import DirectSpans, remote, span_id_of
from agentbatch.observability.tracing import trace_id_of as _trace_id_of

# our provider names → the conventions' well-known gen_ai.provider.name values
PROVIDER_NAMES = {
    "anthropic": "anthropic",
    "openai": "openai",
    "openai-responses": "openai",
    "google": "gcp.gemini",
    "mistral": "mistral_ai",
}


def provider_name(provider: str) -> str:
    return PROVIDER_NAMES.get(provider, provider)


def ns(value: datetime | None, default: int) -> int:
    value = as_utc(value)
    return int(value.timestamp() * 1e9) if value is not None else default


def job_trace(job_id: str) -> int:
    return _trace_id_of("job:" + job_id)


def job_span(job_id: str) -> int:
    return span_id_of("job:" + job_id)


def batch_span(batch_id: str) -> int:
    return span_id_of("pbatch:" + batch_id)


@dataclass
class StepRecord:
    """One applied item, as the spans describe it."""

    item_id: str
    run_id: str
    job_id: str
    agent_id: str
    agent_name: str
    handle: str  # provider/model
    step: int
    result: ItemResult
    error_kind: str | None  # the run failed (or the attempt will be retried) with this
    run_failed: bool
    tool_rows: list[dict[str, Any]] = field(default_factory=list)  # tool-result messages
    inputs: list[dict[str, Any]] = field(default_factory=list)  # (captured) input messages


@dataclass(frozen=True)
class ItemTimes:
    """When an item's request was recorded and its provider batch submitted."""

    provider_batch_id: str | None
    created_at: datetime | None
    submitted_at: datetime | None


class StepSpans:
    """Builds each applied step's spans (finished, with their recorded times) and hands
    them to the processors in bulk (``DirectSpans``)."""

    def __init__(self, direct: DirectSpans, capture: bool) -> None:
        self.direct, self.capture = direct, capture

    def emit(
        self,
        records: Sequence[StepRecord],
        times: dict[str, ItemTimes],
        now_ns: int,
        tool_times: dict[tuple[str, str], tuple[int, int]],
        result_ns: dict[str, int],
    ) -> None:
        for rec in records:
            self._step(
                rec,
                times.get(rec.item_id),
                now_ns,
                tool_times,
                result_ns.get(rec.item_id, now_ns),
            )

    def _step(
        self,
        rec: StepRecord,
        t: ItemTimes | None,
        now_ns: int,
        tool_times: dict[tuple[str, str], tuple[int, int]],
        result_at: int,
    ) -> None:
        name = f"invoke_agent {rec.agent_name}"
        trace_id = _trace_id_of("item:" + rec.item_id)
        if not self.direct.sampled(trace_id, name):
            return
        provider, _, model = rec.handle.partition("/")
        system = provider_name(provider)
        start = ns(t.created_at, now_ns) if t else now_ns
        sent = ns(t.submitted_at, start) if t else start
        agent = self.direct.context(trace_id, span_id_of("step:" + rec.item_id))
        self._chat(rec, t, agent, system, model, sent, max(result_at, sent))
        response = rec.result.response
        if response is not None:
            results = {r.get("tool_call_id"): r for r in rec.tool_rows}
            for call in response.tool_calls:
                row = results.get(call.id)
                if row is None:
                    continue  # not run (a rule stopped the step before it)
                when = tool_times.get((rec.item_id, call.id), (now_ns, now_ns))
                self._tool(agent, call.name, call.id, call.arguments, row, when)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": system,
            "gen_ai.agent.id": rec.agent_id,
            "gen_ai.agent.name": rec.agent_name,
            "gen_ai.conversation.id": rec.run_id,
            "gen_ai.request.model": model,
            "session.id": rec.run_id,
            "agentbatch.job.id": rec.job_id,
            "agentbatch.run.id": rec.run_id,
            "agentbatch.item.id": rec.item_id,
            "agentbatch.step": rec.step,
        }
        status = None
        if rec.run_failed:
            status = Status(StatusCode.ERROR, rec.error_kind or "failed")
            attributes["error.type"] = rec.error_kind or "failed"
        self.direct.emit(
            name,
            agent,
            None,
            SpanKind.INTERNAL,
            attributes,
            start,
            max(now_ns, start),
            links=(Link(remote(job_trace(rec.job_id), job_span(rec.job_id))),),
            status=status,
        )

    def _chat(
        self,
        rec: StepRecord,
        t: ItemTimes | None,
        agent: SpanContext,
        system: str,
        model: str,
        sent: int,
        ended: int,
    ) -> None:
        result = rec.result
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": system,
            "gen_ai.request.model": model,
            "agentbatch.item.id": rec.item_id,
        }
        links: tuple[Link, ...] = ()
        if t is not None and t.provider_batch_id:
            attributes["agentbatch.provider_batch.id"] = t.provider_batch_id
            links = (Link(remote(job_trace(rec.job_id), batch_span(t.provider_batch_id))),)
        response = result.response
        if response is not None:
            usage = response.usage
            attributes["gen_ai.response.model"] = response.model or model
            attributes["gen_ai.response.finish_reasons"] = (response.stop_reason,)
            attributes["gen_ai.usage.input_tokens"] = (
                usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
            )
            attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
            attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cache_read_tokens
            attributes["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_tokens
            if self.capture:
                attributes["gen_ai.output.messages"] = json.dumps(
                    [_output_message(result)], ensure_ascii=False
                )
        if self.capture and rec.inputs:
            attributes["gen_ai.input.messages"] = json.dumps(rec.inputs, ensure_ascii=False)
        status = None
        if result.outcome.value != "succeeded" or response is None:
            kind = rec.error_kind or result.outcome.value
            attributes["error.type"] = kind
            status = Status(StatusCode.ERROR, (result.error or kind)[:500])
        self.direct.emit(
            f"chat {model}",
            self.direct.context(agent.trace_id),
            agent,
            SpanKind.CLIENT,
            attributes,
            sent,
            ended,
            links=links,
            status=status,
        )

    def _tool(
        self,
        agent: SpanContext,
        name: str,
        call_id: str,
        arguments: str,
        row: dict[str, Any],
        when: tuple[int, int],
    ) -> None:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.type": "function",
        }
        if self.capture:
            attributes["gen_ai.tool.call.arguments"] = arguments
            attributes["gen_ai.tool.call.result"] = row.get("content") or ""
        status = None
        if row.get("is_error"):
            attributes["error.type"] = "tool_error"
            status = Status(StatusCode.ERROR)
        self.direct.emit(
            f"execute_tool {name}",
            self.direct.context(agent.trace_id),
            agent,
            SpanKind.INTERNAL,
            attributes,
            when[0],
            max(when),
            status=status,
        )


def _output_message(result: ItemResult) -> dict[str, Any]:
    response = result.response
    assert response is not None
    parts: list[dict[str, Any]] = []
    if response.reasoning:
        parts.append({"type": "reasoning", "content": response.reasoning})
    if response.content:
        parts.append({"type": "text", "content": response.content})
    for call in response.tool_calls:
        try:
            arguments: Any = json.loads(call.arguments)
        except ValueError:
            arguments = call.arguments
        parts.append(
            {"type": "tool_call", "id": call.id, "name": call.name, "arguments": arguments}
        )
    return {"role": "assistant", "parts": parts, "finish_reason": response.stop_reason}
