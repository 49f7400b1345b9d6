"""Every read an apply chunk needs, in one snapshot (I/O only; planning is in ``plan``)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agentbatch.domain.agents import AgentSpec
from agentbatch.domain.model_io import ItemResult, Outcome
from agentbatch.domain.statuses import RunStatus
from agentbatch.runtime.apply.calls import touches_memory
from agentbatch.runtime.catalog import catalog_for
from agentbatch.step.prepare import ToolCatalog
from agentbatch.step.workspace import MemoryWorkspace
from agentbatch.store import blocks, items, run_reads
from agentbatch.store.rows import CustomTool, ItemRef, JobSettings, RunState

_STEP_PHASES = frozenset({RunStatus.WAITING_MODEL.value, RunStatus.WAITING_TOOLS.value})

if TYPE_CHECKING:
    from agentbatch.runtime.context import RuntimeContext


@dataclass
class Snapshot:
    items: dict[str, ItemRef]  # the chunk's items that are still unapplied
    runs: dict[str, RunState]
    jobs: dict[str, JobSettings]
    agents: dict[str, tuple[AgentSpec, str]]  # agent id -> (spec, org id)
    ws: MemoryWorkspace
    customs: dict[str, dict[str, CustomTool]]
    current: set[str]  # items that are still their run's current item, in the expected status
    catalogs: dict[str, ToolCatalog] = field(default_factory=dict)

    def catalog(self, org_id: str) -> ToolCatalog:
        found = self.catalogs.get(org_id)
        if found is None:
            found = self.catalogs[org_id] = catalog_for(org_id, self.customs)
        return found

    def with_fresh_memory(self) -> Snapshot:
        """The same snapshot over a copy of the workspace (for a trial plan)."""
        return replace(self, ws=copy.deepcopy(self.ws))


async def read_snapshot(
    ctx: RuntimeContext,
    conn: Any,
    results: Mapping[str, ItemResult],
    *,
    lock: bool,
    expect_status: str,
    memory_for: set[str] | None = None,
) -> Snapshot:
    """Items, runs, job settings, agents and (for agents whose calls touch memory, or
    ``memory_for``) their blocks, locked when asked (inside a write transaction)."""
    found = await items.unapplied(conn, list(results), lock=lock)
    states = await run_reads.load_states(conn, [i.run_id for i in found.values()], lock=lock)
    # an item that is its run's current item in the other phase of a step (the ingest
    # re-reading a result whose step waits for its tools) belongs to that phase: left alone
    for item_id, item in list(found.items()):
        run = states.get(item.run_id)
        if (
            run is not None
            and run.current_item_id == item_id
            and run.status != expect_status
            and run.status in _STEP_PHASES
        ):
            del found[item_id]
    jobs = await ctx.jobs.load(conn, {i.job_id for i in found.values()})
    current = {
        item_id
        for item_id, item in found.items()
        if (run := states.get(item.run_id)) is not None
        and run.current_item_id == item_id
        and run.status == expect_status
    }
    succeeded = [
        i for i in current if results[i].outcome is Outcome.SUCCEEDED and results[i].response
    ]
    agent_ids = [states[found[i].run_id].agent_id for i in succeeded]
    memory_users = {
        states[found[i].run_id].agent_id for i in succeeded if touches_memory(results[i])
    } | (memory_for or set())
    agents: dict[str, tuple[AgentSpec, str]] = {}
    agent_blocks: dict[str, list[str]] = {}
    customs: dict[str, dict[str, CustomTool]] = {}
    views: dict[str, Any] = {}
    if agent_ids:
        agents, agent_blocks = await ctx.agents.load(conn, agent_ids)
        agent_blocks = {a: ids for a, ids in agent_blocks.items() if a in memory_users}
        views = await blocks.load_views(
            conn, (b for ids in agent_blocks.values() for b in ids), lock=lock
        )
        customs = await ctx.custom_tools.load(conn, agents.values())
    ws = MemoryWorkspace(views.values(), agent_blocks)
    return Snapshot(found, states, jobs, agents, ws, customs, current)
