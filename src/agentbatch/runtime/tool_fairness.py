"""Which waiting tool steps the tool pass takes next: fairly across organisations (pure).

The pass runs at most ``room`` steps at once, and at most ``per_org`` of one
organisation (``AGENTBATCH_TOOL_ORG_CONCURRENCY``: the calls one organisation may run at
once in the sandbox pool). Taking the oldest waiting steps regardless of organisation
would let one organisation's backlog fill the pass with steps that only wait for that
organisation's slots, while another's steps are never taken; so each free place goes to
the organisation with the fewest steps running (ties: the one waiting longest), and an
organisation at its limit gets none.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping

from agentbatch.store.rows import ToolCandidate


def pick_fairly(
    candidates: Iterable[ToolCandidate],
    running: Mapping[str, int],
    *,
    room: int,
    per_org: int | None,
) -> list[str]:
    """Ids to claim from ``candidates`` (oldest first), given the steps each
    organisation has ``running``: at most ``room`` in all and ``per_org`` (None: no
    limit) per organisation, running ones included."""
    queues: dict[str, deque[str]] = {}  # organisations in order of their oldest step
    for candidate in candidates:
        queues.setdefault(candidate.org_id, deque()).append(candidate.id)
    load = Counter({org: running.get(org, 0) for org in queues})
    order = {org: i for i, org in enumerate(queues)}
    picked: list[str] = []
    while len(picked) < room:
        open_orgs = [
            org
            for org, queue in queues.items()
            if queue and (per_org is None or load[org] < per_org)
        ]
        if not open_orgs:
            break
        org = min(open_orgs, key=lambda o: (load[o], order[o]))
        picked.append(queues[org].popleft())
        load[org] += 1
    return picked
