"""What the policy engine is shown and what it answers with: small frozen snapshots, no live objects.

The scheduler core builds these views from its tables on each worker-manager heartbeat, so a policy never
holds a reference into scheduler state and can be tested with hand-written values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

Capabilities = dict[str, int]
"""Capability name -> amount, e.g. ``{"linux": -1, "gpu": 1}``; -1 means "present, unlimited"."""

UNLIMITED = -1
"""The ``max_task_concurrency`` value that means "no cap"."""


@dataclass(frozen=True)
class ManagerView:
    """One connected worker manager."""

    manager_id: str
    max_task_concurrency: int  # -1: unlimited
    capabilities: Mapping[str, int]  # what every worker it starts will advertise
    worker_count: int  # connected workers that belong to this manager

    @property
    def capability_keys(self) -> frozenset[str]:
        return frozenset(self.capabilities)

    def covers(self, required_keys: frozenset[str]) -> bool:
        """Whether the workers this manager starts could run a task that requires these capability keys."""
        return required_keys <= self.capability_keys


@dataclass(frozen=True)
class DemandView:
    """The work the scheduler knows about, and the workers it has, at one instant."""

    total_tasks: int  # unfinished tasks: queued and running
    tasks_by_capability_keys: Mapping[frozenset[str], int]  # the same tasks by required keys; frozenset() = none
    total_workers: int  # connected workers, whichever manager (or none) started them


@dataclass(frozen=True)
class DesiredConcurrency:
    """One line of a worker-manager command: "run this many workers with these capabilities"."""

    capabilities: Mapping[str, int]  # {} = any worker of that manager
    task_concurrency: int


def cap_of(*limits: int) -> int:
    """The tightest of several concurrency limits, where -1 means unlimited (so -1 only if all are -1)."""
    finite = [limit for limit in limits if limit != UNLIMITED]
    return min(finite) if finite else UNLIMITED


def clamp(count: int, limit: int) -> int:
    """``count`` floored at 0 and capped by ``limit`` unless ``limit`` is -1."""
    count = max(0, count)
    return count if limit == UNLIMITED else min(count, max(0, limit))


def restrict(capabilities: Mapping[str, int], keys: frozenset[str]) -> dict[str, int]:
    """The part of a manager's capabilities that a task group asks for (the request a manager matches on)."""
    return {key: capabilities[key] for key in sorted(keys) if key in capabilities}


def group_order(keys: frozenset[str]) -> tuple[int, list[str]]:
    """Sort key for capability groups: the most specific first (fewest managers can serve them), then by name.

    Serving specific groups first means a scarce specialised manager's capacity goes to the tasks only it can
    run, and generic demand takes whatever capacity is left.
    """
    return (-len(keys), sorted(keys))


def task_groups(demand: DemandView) -> dict[frozenset[str], int]:
    """Unfinished tasks by required capability keys, empty groups dropped.

    A caller that only knows the total, and so leaves the grouping empty, gets every task treated as generic.
    """
    groups = {keys: count for keys, count in demand.tasks_by_capability_keys.items() if count > 0}
    if not groups and demand.total_tasks > 0:
        return {frozenset(): demand.total_tasks}
    return groups
