"""The tool pass's pick of waiting steps: fair across organisations, within the limits."""

from __future__ import annotations

from agentbatch.runtime.tool_fairness import pick_fairly
from agentbatch.store.rows import ToolCandidate


def waiting(*pairs: str) -> list[ToolCandidate]:
    """``"a1"`` is run ``a1`` of organisation ``a`` (oldest first)."""
    return [ToolCandidate(p, p[0]) for p in pairs]


def test_one_organisations_backlog_leaves_room_for_the_others() -> None:
    backlog = waiting("a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "b1")

    assert pick_fairly(backlog, {}, room=4, per_org=1) == ["a1", "b1"]
    assert pick_fairly(backlog, {}, room=4, per_org=2) == ["a1", "b1", "a2"]
    assert pick_fairly(backlog, {}, room=4, per_org=None) == ["a1", "b1", "a2", "a3"]


def test_running_steps_count_against_their_organisation() -> None:
    backlog = waiting("a1", "a2", "b1", "c1", "b2")

    assert pick_fairly(backlog, {"a": 1}, room=3, per_org=1) == ["b1", "c1"]
    # the organisation with the fewest running steps goes first
    assert pick_fairly(backlog, {"a": 2, "b": 1}, room=2, per_org=None) == ["c1", "b1"]


def test_nothing_beyond_the_room() -> None:
    assert pick_fairly(waiting("a1", "b1"), {}, room=1, per_org=None) == ["a1"]
    assert pick_fairly(waiting("a1", "b1"), {}, room=0, per_org=None) == []
    assert pick_fairly([], {"a": 1}, room=4, per_org=1) == []
