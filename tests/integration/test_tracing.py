"""Spans of a 2-step job with a tool call, through the Anthropic emulator and the official
SDK, collected by the OpenTelemetry SDK's in-memory exporter: one trace per agent step
(invoke_agent → chat + execute_tool), GenAI attributes with cache tokens, links from each
chat span to its provider batch's span, and the job's trace (job → provider batches)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from agentbatch.app import AgentBatch
from agentbatch.observability import Observer
from agentbatch.observability.settings import ObservabilitySettings
from agentbatch.store.tables import batch_items, provider_batches
from tests.integration.test_provider_jobs import AGENT_SPEC, SONNET


def _by_name(spans: list[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    out: dict[str, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        out[span.name.split(" ")[0]].append(span)
    return out


async def _run(ab: AgentBatch, capture: bool) -> tuple[dict[str, Any], list[ReadableSpan]]:
    exporter = InMemorySpanExporter()
    observer = Observer(
        ObservabilitySettings(tracing=True, capture_content=capture),
        exporters=[exporter],
        batch_export=False,
    )
    agent = await ab.agents.create_agent(
        ab.org_id, {"name": "notes", "model": SONNET, **AGENT_SPEC}
    )
    job = await ab.jobs.create_job(
        ab.org_id,
        {"requests": [{"agent_id": agent["id"], "messages": "green tea"}], "max_steps": 2},
    )
    await ab.worker(observe=observer).run_until(job["id"], timeout_s=60)
    observer.shutdown()
    return await ab.jobs.get_job(ab.org_id, job["id"]), list(exporter.get_finished_spans())


async def test_span_tree_of_a_two_step_job(ab: AgentBatch) -> None:
    job, spans = await _run(ab, capture=False)
    assert job["status"] == "completed"
    named = _by_name(spans)
    agents, chats, tools = named["invoke_agent"], named["chat"], named["execute_tool"]
    assert len(agents) == 2 and len(chats) == 2 and len(tools) == 2

    async with ab.db.read() as conn:
        items = {
            r.id: r.provider_batch_id
            for r in await conn.execute(select(batch_items.c.id, batch_items.c.provider_batch_id))
        }
        batch_ids = [r.id for r in await conn.execute(select(provider_batches.c.id))]
    assert len(items) == 2 and len(batch_ids) == 2

    batch_spans = {
        s.attributes["agentbatch.provider_batch.id"]: s for s in named["agentbatch.provider_batch"]
    }
    assert set(batch_spans) == set(batch_ids)
    (job_span,) = named["agentbatch.job"]
    assert job_span.attributes["agentbatch.job.id"] == job["id"]
    for batch in batch_spans.values():  # the job's trace: job → provider batches
        assert batch.context.trace_id == job_span.context.trace_id
        assert batch.parent is not None and batch.parent.span_id == job_span.context.span_id
        assert batch.attributes["gen_ai.provider.name"] == "anthropic"
        assert batch.attributes["agentbatch.provider_batch.external_id"].startswith("msgbatch_")
        assert batch.end_time >= batch.start_time

    steps = sorted(agents, key=lambda s: s.attributes["agentbatch.step"])
    assert [s.attributes["agentbatch.step"] for s in steps] == [0, 1]
    for step in steps:
        assert step.name == "invoke_agent notes"
        assert step.parent is None  # each step is its own trace, grouped by the run
        assert step.attributes["gen_ai.operation.name"] == "invoke_agent"
        assert step.attributes["gen_ai.agent.name"] == "notes"
        assert step.attributes["gen_ai.conversation.id"] == steps[0].attributes["agentbatch.run.id"]
        assert [link.context.span_id for link in step.links] == [job_span.context.span_id]
        item_id = step.attributes["agentbatch.item.id"]
        (chat,) = [c for c in chats if c.context.trace_id == step.context.trace_id]
        assert chat.parent.span_id == step.context.span_id
        assert chat.name == "chat claude-sonnet-4-5"
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert chat.attributes["gen_ai.provider.name"] == "anthropic"
        assert chat.attributes["gen_ai.request.model"] == "claude-sonnet-4-5"
        assert chat.attributes["gen_ai.usage.output_tokens"] > 0
        cached = (
            chat.attributes["gen_ai.usage.cache_read.input_tokens"]
            + chat.attributes["gen_ai.usage.cache_creation.input_tokens"]
        )
        assert cached > 0  # the emulator caches the long system prompt
        assert chat.attributes["gen_ai.usage.input_tokens"] > cached
        # the chat span links to the span of the provider batch that carried its request
        batch = batch_spans[items[item_id]]
        assert [link.context.span_id for link in chat.links] == [batch.context.span_id]
        assert [link.context.trace_id for link in chat.links] == [batch.context.trace_id]
        assert "gen_ai.output.messages" not in chat.attributes  # content only when asked
        (tool,) = [t for t in tools if t.context.trace_id == step.context.trace_id]
        assert tool.parent.span_id == step.context.span_id
        assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
        assert "gen_ai.tool.call.arguments" not in tool.attributes
    assert [t.name for t in sorted(tools, key=lambda t: t.start_time)] == [
        "execute_tool core_memory_append",
        "execute_tool send_message",
    ]
    # worker passes that found work are traced with their chunk size
    submit = named["agentbatch.worker.submit"]
    assert submit and all(s.attributes["agentbatch.chunk_size"] > 0 for s in submit)
    assert {s.attributes["agentbatch.chunk.items"] for s in named["agentbatch.apply_chunk"]} == {1}


async def test_prompts_and_completions_only_when_asked(ab: AgentBatch) -> None:
    _job, spans = await _run(ab, capture=True)
    named = _by_name(spans)
    first = min(named["chat"], key=lambda s: s.start_time)
    assert "green tea" in first.attributes["gen_ai.input.messages"]
    assert "core_memory_append" in first.attributes["gen_ai.output.messages"]
    tool = min(named["execute_tool"], key=lambda s: s.start_time)
    assert "green tea" in tool.attributes["gen_ai.tool.call.arguments"]
    assert tool.attributes["gen_ai.tool.call.result"]
