"""Prepare claimed runs: bulk reads (agents, blocks, context windows, job options, custom
tools), then pure request assembly per run (``step.prepare.build_request``), the context
window check (``runtime.summaries``: the request, or a summary step instead) and the
provider's encoding. A run that cannot be prepared is reported with the reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from agentbatch.domain.messages import Message
from agentbatch.ids import new_id
from agentbatch.providers.base import BatchProvider
from agentbatch.runtime.apply.rows import message_row
from agentbatch.runtime.catalog import catalog_for
from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.submit.split import UNLIMITED_BYTES, Prepared, payload_size
from agentbatch.runtime.summaries import WindowFitter
from agentbatch.step.memory import MemoryRenderer
from agentbatch.step.prepare import ToolCatalog, build_request
from agentbatch.step.solver import RuleSet, SolverState
from agentbatch.step.window import order_window
from agentbatch.store import blocks, messages
from agentbatch.store.rows import ClaimedRun


@dataclass
class PreparedChunk:
    ready: list[Prepared] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # run id -> why it cannot be sent


async def prepare_chunk(
    ctx: RuntimeContext, runs: Sequence[ClaimedRun], provider: BatchProvider, now: datetime
) -> PreparedChunk:
    agent_ids = [r.agent_id for r in runs]
    async with ctx.db.read() as conn:
        agents, agent_blocks = await ctx.agents.load(conn, agent_ids)
        views = await blocks.load_views(conn, (b for ids in agent_blocks.values() for b in ids))
        cached = {
            r.agent_id: window
            for r in runs
            if (window := ctx.contexts.get(r.agent_id, r.id, r.step)) is not None
        }
        contexts = await messages.load_context(conn, [a for a in agent_ids if a not in cached])
        jobs = await ctx.jobs.load(conn, {r.job_id for r in runs})
        customs = await ctx.custom_tools.load(conn, agents.values())
    measure = provider.limits.max_bytes < UNLIMITED_BYTES
    renderer = MemoryRenderer()
    catalogs: dict[str, ToolCatalog] = {}
    fitter = WindowFitter(ctx.memory)
    out = PreparedChunk()
    for run in runs:
        agent_org = agents.get(run.agent_id)
        if agent_org is None:
            out.failures[run.id] = "the agent no longer exists"
            continue
        agent, org_id = agent_org
        new_msgs = [Message.from_dict(m) for m in run.pending_messages or ()]
        window = cached.get(run.agent_id)
        if window is not None:
            context = list(window)
        else:
            context = order_window(contexts.get(run.agent_id, [])) + new_msgs
        counts = list(ctx.contexts.counts(run.agent_id, run.id, run.step))
        own_blocks = [views[b] for b in agent_blocks.get(run.agent_id, ()) if b in views]
        item_id = new_id("item")
        catalog = catalogs.get(org_id)
        if catalog is None:
            catalog = catalogs[org_id] = catalog_for(org_id, customs)
        try:
            request = build_request(
                agent,
                own_blocks,
                context,
                SolverState.from_dict(run.solver_state),
                catalog=catalog,
                renderer=renderer,
                step=run.step,
                attempt=run.attempt,
                job_options=jobs[run.job_id].options or {},
                rules=RuleSet(agent.rules),
            )
            fitted = fitter.fit(agent, request, counts, stored=len(context) - len(new_msgs))
            if fitted.failure is not None:
                out.failures[run.id] = fitted.failure
                continue
            entry = provider.encode(item_id, fitted.request)
        except (ValueError, KeyError, TypeError) as exc:
            out.failures[run.id] = f"could not build the request: {exc}"
            continue
        size = payload_size(entry) if measure else 0
        rows = [
            message_row(
                m,
                org_id=org_id,
                agent_id=run.agent_id,
                job_id=run.job_id,
                run_id=run.id,
                step=run.step,
                now=now,
            )
            for m in new_msgs
        ]
        ctx.contexts.put(run.agent_id, run.id, run.step, context, counts)
        out.ready.append(
            Prepared(
                run.id,
                run.fence,
                item_id,
                run.step,
                run.attempt,
                entry,
                size,
                rows,
                fitted.kind,
                fitted.context,
            )
        )
    return out
