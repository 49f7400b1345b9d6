"""``batches submit --estimate`` / ``POST /v1/jobs/estimate``: a job's first step
estimated before anything is sent (input tokens from the agents' current windows and
what the job adds; the cost at the batch price, before and with the prompt cache's
expected reads and writes), and what its output could cost at most (``max_tokens``) or
is expected to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from agentbatch.domain.messages import parse_input_messages
from agentbatch.domain.templates import AgentFields, compile_template
from agentbatch.errors import InvalidInput
from agentbatch.pricing import PriceTable
from agentbatch.runtime.context import RuntimeContext
from agentbatch.runtime.estimate import FirstStep, add_first_steps
from agentbatch.schemas import JobCreate
from agentbatch.services.agents import parse_model
from agentbatch.services.job_builder import PAGE, resolve_criteria
from agentbatch.store import jobs_repo, selection
from agentbatch.store.db import Database


class EstimateService:
    def __init__(
        self,
        db: Database,
        runtime: Callable[[], RuntimeContext],
        prices: PriceTable,
        check_job: Callable[[str, JobCreate, datetime], object] | None = None,
    ) -> None:
        self.db, self.runtime, self.prices = db, runtime, prices
        self.check_job = check_job

    async def estimate_job(self, org_id: str, data: JobCreate | dict[str, Any]) -> dict[str, Any]:
        spec: JobCreate = parse_model(JobCreate, data)
        if self.check_job is not None:  # the settings a create would refuse (deadline, ...)
            self.check_job(org_id, spec, datetime.now(UTC))
        ctx = self.runtime()
        out = FirstStep()
        busy = 0
        if spec.requests is not None:
            for start in range(0, len(spec.requests), PAGE):
                chunk = []
                for i, request in enumerate(spec.requests[start : start + PAGE], start):
                    try:
                        msgs = [m.to_dict() for m in parse_input_messages(request.messages)]
                    except ValueError as exc:
                        raise InvalidInput(f"requests[{i}] ({request.agent_id}): {exc}") from None
                    chunk.append((request.agent_id, msgs))
                async with self.db.read() as conn:
                    busy += len(await jobs_repo.busy_agents(conn, [a for a, _ in chunk]))
                await add_first_steps(ctx, org_id, chunk, spec.options, out)
        else:
            try:
                template = compile_template(spec.messages)
            except ValueError as exc:
                raise InvalidInput(f"messages: {exc}") from None
            after: str | None = None
            while True:
                async with self.db.read() as conn:
                    criteria = await resolve_criteria(
                        conn,
                        org_id,
                        spec.agents.model_dump() if spec.agents else None,
                        spec.selector,
                    )
                    page = await selection.agent_page(
                        conn, org_id, criteria, after=after, limit=PAGE
                    )
                    busy += len(await jobs_repo.busy_agents(conn, [a.id for a in page]))
                if not page:
                    if after is None:
                        raise InvalidInput("no agent matches the selector")
                    break
                after = page[-1].id
                try:
                    chunk = [
                        (
                            a.id,
                            template.render(AgentFields(a.id, a.name, a.model, a.tags, a.metadata)),
                        )
                        for a in page
                    ]
                except ValueError as exc:
                    raise InvalidInput(str(exc)) from None
                await add_first_steps(ctx, org_id, chunk, spec.options, out)
        return self._priced(ctx, out, busy)

    def _priced(self, ctx: RuntimeContext, out: FirstStep, busy: int) -> dict[str, Any]:
        guess = ctx.limits.settings.budget_output_tokens
        by_model: dict[str, Any] = {}
        totals = {"input_usd": 0.0, "cached_input_usd": 0.0, "expected_usd": 0.0, "max_usd": 0.0}
        unpriced = []
        for model, t in sorted(out.by_model.items()):
            price = self.prices.price_of(model)
            expected_out = min(t.max_output_tokens, guess * t.requests)
            entry: dict[str, Any] = {
                "requests": t.requests,
                "input_tokens": t.input_tokens,
                "expected_output_tokens": expected_out,
                "max_output_tokens": t.max_output_tokens,
                "cache_read_tokens": t.cache_read_tokens,
                "cache_write_tokens": t.cache_write_tokens,
            }
            if price is None:
                unpriced.append(model)
            else:
                factor = (1.0 - price.batch_discount) / 1e6
                input_usd = t.input_tokens * price.input * factor
                plain = t.input_tokens - t.cache_read_tokens - t.cache_write_tokens
                cached = (
                    t.cache_read_tokens * price.cache_read
                    + t.cache_write_tokens * price.cache_write
                    + max(0, plain) * price.input
                ) * factor
                entry.update(
                    input_usd=round(input_usd, 6),
                    cached_input_usd=round(cached, 6),
                    expected_usd=round(cached + expected_out * price.output * factor, 6),
                    max_usd=round(input_usd + t.max_output_tokens * price.output * factor, 6),
                )
                for key in totals:
                    totals[key] += entry[key]
            by_model[model] = entry
        return {
            "requests": sum(t.requests for t in out.by_model.values()),
            "input_tokens": sum(t.input_tokens for t in out.by_model.values()),
            **{k: round(v, 6) for k, v in totals.items()},
            "by_model": by_model,
            "unpriced_models": unpriced,
            "busy_agents": busy,
            "unknown_agents": sorted(out.failures)[:100],
            "note": "first step only, at the batch price; input_usd before prompt caching, "
            "cached_input_usd with the cache reads and writes expected; "
            f"output expected at {guess} tokens a request (AGENTBATCH_BUDGET_OUTPUT_TOKENS), "
            "at most max_tokens",
        }
