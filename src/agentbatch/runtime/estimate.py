"""The first step of a job, estimated before anything is sent: each agent's request is
built from its current window, memory and tools plus the job's messages, exactly as the
submit pass will build it (``step.prepare.build_request``, fitted to the model's context
window by ``runtime.summaries``: an agent whose window is over it starts with a summary
step, and that is what is estimated), encoded by its provider, and its input tokens
estimated (``providers.token_estimate``). Nothing is written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentbatch.domain.agents import split_handle
from agentbatch.domain.messages import Message
from agentbatch.errors import ConfigError, InvalidInput
from agentbatch.providers.openai_wire import encode_body
from agentbatch.providers.token_estimate import (
    cache_split,
    estimate_input_tokens,
    max_output_tokens,
)
from agentbatch.runtime.catalog import catalog_for
from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.summaries import WindowFitter
from agentbatch.step.memory import MemoryRenderer
from agentbatch.step.prepare import build_request
from agentbatch.step.solver import RuleSet, SolverState
from agentbatch.step.window import order_window
from agentbatch.store import blocks, messages


@dataclass
class ModelTotals:
    requests: int = 0
    input_tokens: int = 0
    max_output_tokens: int = 0
    cache_read_tokens: int = 0  # of the input, expected read from the prompt cache
    cache_write_tokens: int = 0  # ... and written to it


@dataclass
class FirstStep:
    """Accumulated over chunks of agents."""

    by_model: dict[str, ModelTotals] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # agent id -> why not

    def add(self, model: str, entry: dict[str, Any], max_output: int) -> None:
        totals = self.by_model.setdefault(model, ModelTotals())
        read, written, _ = cache_split(entry)
        totals.requests += 1
        totals.input_tokens += estimate_input_tokens(entry)
        totals.max_output_tokens += max_output
        totals.cache_read_tokens += read
        totals.cache_write_tokens += written


def _encoder(ctx: RuntimeContext, model: str) -> Any:
    """The provider's ``encode``; without its settings (no key here) a chat-completions
    body stands in, which holds the same prompt."""
    try:
        provider = ctx.registry.get(split_handle(model)[0])
        return provider.encode
    except (ConfigError, InvalidInput, ValueError):
        return lambda custom_id, request: {"custom_id": custom_id, "body": encode_body(request)}


async def add_first_steps(
    ctx: RuntimeContext,
    org_id: str,
    requests: Sequence[tuple[str, list[dict[str, Any]]]],
    job_options: dict[str, Any],
    out: FirstStep,
) -> None:
    """Estimate the first request of each (agent id, input messages) into ``out``."""
    agent_ids = [a for a, _ in requests]
    async with ctx.db.read() as conn:
        agents, agent_blocks = await ctx.agents.load(conn, agent_ids)
        views = await blocks.load_views(conn, (b for ids in agent_blocks.values() for b in ids))
        contexts = await messages.load_context(conn, agent_ids)
        customs = await ctx.custom_tools.load(conn, agents.values())
    renderer = MemoryRenderer()
    encoders: dict[str, Any] = {}
    catalog = catalog_for(org_id, customs)
    fitter = WindowFitter(ctx.memory)
    for agent_id, new in requests:
        found = agents.get(agent_id)
        if found is None or found[1] != org_id:
            out.failures[agent_id] = "unknown agent"
            continue
        agent, _ = found
        context = order_window(contexts.get(agent_id, [])) + [Message.from_dict(m) for m in new]
        own = [views[b] for b in agent_blocks.get(agent_id, ()) if b in views]
        try:
            request = build_request(
                agent,
                own,
                context,
                SolverState.from_dict(None),
                catalog=catalog,
                renderer=renderer,
                step=0,
                attempt=1,
                job_options=job_options,
                rules=RuleSet(agent.rules),
            )
            fitted = fitter.fit(agent, request, [], stored=len(context) - len(new))
            if fitted.failure is not None:
                out.failures[agent_id] = fitted.failure
                continue
            request = fitted.request
            encode = encoders.get(agent.model)
            if encode is None:
                encode = encoders[agent.model] = _encoder(ctx, agent.model)
            entry = encode("estimate", request)
        except (ValueError, KeyError, TypeError) as exc:
            out.failures[agent_id] = f"could not build the request: {exc}"
            continue
        cap = max_output_tokens(entry) or request.max_tokens
        out.add(agent.model, entry, cap)
