"""Apply item results: every outcome and its effects in one guarded transaction per chunk.

For a succeeded item: the assistant message, tool results, memory edits, the heartbeat and
the run's new state. For an errored / expired / canceled item: a retry or the run's
failure. An item that was already applied, or is no longer its run's current item,
changes nothing: exactly once. Modules: ``snapshot`` (reads), ``plan`` (pure), ``commit``
(the transaction, poison isolation), ``rows`` (row dicts).
"""

from agentbatch.runtime.apply.commit import (
    Planned,
    apply_results,
    commit_chunk,
    make_plan,
    read_chunk,
)
from agentbatch.runtime.apply.plan import ApplyStats, PendingCall, Plan, ToolKey

__all__ = [
    "ApplyStats",
    "PendingCall",
    "Plan",
    "Planned",
    "ToolKey",
    "apply_results",
    "commit_chunk",
    "make_plan",
    "read_chunk",
]
