"""The ``simple`` engine's scaling rules: how many workers each worker manager should run.

All rules are stateless and computed on every manager heartbeat from the current picture (T unfinished tasks,
W connected workers, C workers of this manager). The answer is declarative, a whole desired count rather than
a delta, so a lost or repeated command is harmless. Desired counts are what the manager should *converge*
to; the manager applies its own cooldown before stopping workers.

``vanilla`` keeps the tasks-per-worker ratio T/W inside the band [1, 10], capability-blind:

- T = 0: desired 0. An idle cluster drains completely.
- W = 0 or T/W > 10 (too few workers): grow to ceil(T/10) in total, the fewest workers that bring the ratio
  back to 10. The missing workers are split evenly between the managers that can still grow. Growing by the
  whole deficit at once, instead of one worker per heartbeat, matters because a burst of thousands of tasks
  would otherwise wait minutes for capacity. Splitting the deficit keeps two managers from each starting all
  of it. The count is computed from *connected* workers, so repeating it while workers are still booting
  asks for the same number again; it does not add more on top.
- T/W < 1 (too many workers): shrink toward one worker per unfinished task. Each manager keeps its
  proportional share ceil(T * C / W), at least 1 while it has workers and there is work. Shrinking only to T,
  and not to ceil(T/10), means only surplus workers go, so running tasks are not interrupted.
- Otherwise: keep C. The gap between the two thresholds stops the count from flapping.

``capability`` does the same per capability group, with the band [0.5, 5]:

- Each group of tasks (tasks requiring the same capability *keys*) is attributed to the managers whose
  capability keys cover it. Managers with the fewest extra keys fit best and take the group first, split
  evenly between equals. Only what exceeds their capacity (5 tasks per worker of their max concurrency)
  spills to the next-best fit. So generic work does not start expensive specialised workers while a plain manager has
  room. Specific groups are attributed before generic ones, so a scarce manager's capacity goes first to
  the tasks only it can run.
- A manager's workers all advertise the same capabilities, so they can run any group it covers. The ratio is
  therefore judged over everything attributed to the manager (n tasks over C workers): grow to ceil(n/5)
  above 5, shrink to n below 0.5, else keep C. Judging each group against the same workers would
  count every worker once per group and grow without bound.
- The manager's total is split between its groups in proportion to their tasks. There is one request per
  group, carrying the manager's capabilities restricted to the group's keys. Groups with nothing are left
  out, and the manager treats a missing group as 0. No task at all gives an empty command, meaning 0.
- Desired totals are capped by the manager's max task concurrency (-1: unlimited). A manager with cap 0
  is never scaled.

Workers that no manager started (fixed workers) count in vanilla's W. Capability scaling cannot tell what
they can run, so it judges each manager by its own workers only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from scaler.scheduler.policy.views import (
    UNLIMITED,
    DemandView,
    DesiredConcurrency,
    ManagerView,
    clamp,
    group_order,
    restrict,
    task_groups,
)

VANILLA_UP_RATIO = 10  # tasks per worker above which vanilla scales up
VANILLA_DOWN_RATIO = 1  # tasks per worker below which vanilla scales down
CAPABILITY_UP_RATIO = 5  # tasks per worker above which capability scaling scales up
CAPABILITY_DOWN_RATIO = 0.5  # tasks per worker below which it scales down


def may_scale(manager: ManagerView) -> bool:
    """Whether a scaling rule may ever ask this manager for workers (a cap of 0 means "never")."""
    return manager.max_task_concurrency != 0


def can_grow(manager: ManagerView) -> bool:
    limit = manager.max_task_concurrency
    return limit == UNLIMITED or manager.worker_count < limit


def vanilla_desired(manager: ManagerView, managers: Sequence[ManagerView], demand: DemandView) -> int:
    tasks = max(0, demand.total_tasks)
    current = max(0, manager.worker_count)
    workers = max(demand.total_workers, current)  # defensive: the manager's own workers are connected workers
    if tasks == 0 or not may_scale(manager):
        return 0
    if workers == 0 or tasks > VANILLA_UP_RATIO * workers:
        deficit = math.ceil(tasks / VANILLA_UP_RATIO) - workers
        growing = {m.manager_id for m in managers if may_scale(m) and can_grow(m)} | {manager.manager_id}
        desired = current + math.ceil(deficit / len(growing))
    elif tasks < VANILLA_DOWN_RATIO * workers:
        desired = min(current, math.ceil(tasks * current / workers))
    else:
        desired = current
    return clamp(desired, manager.max_task_concurrency)


def capability_desired(
    manager: ManagerView, managers: Sequence[ManagerView], demand: DemandView
) -> list[DesiredConcurrency]:
    if not may_scale(manager):
        return []
    known = any(m.manager_id == manager.manager_id for m in managers)
    attributed = attribute_groups(managers if known else [*managers, manager], demand)
    groups = attributed.get(manager.manager_id, {})
    tasks = sum(groups.values())
    current = max(0, manager.worker_count)
    if tasks <= 0:
        return []
    if current == 0 or tasks > CAPABILITY_UP_RATIO * current:
        desired = math.ceil(tasks / CAPABILITY_UP_RATIO)
    elif tasks < CAPABILITY_DOWN_RATIO * current:
        desired = tasks
    else:
        desired = current
    desired = clamp(desired, manager.max_task_concurrency)
    shares = apportion(desired, groups)
    return [
        DesiredConcurrency(restrict(manager.capabilities, keys), count) for keys, count in shares.items() if count > 0
    ]


def attribute_groups(managers: Sequence[ManagerView], demand: DemandView) -> dict[str, dict[frozenset[str], int]]:
    """manager id -> {capability group -> tasks of that group it should scale for}, by best fit with spill-over."""
    capacity = {m.manager_id: _task_capacity(m) for m in managers if may_scale(m)}
    by_id = {m.manager_id: m for m in managers}
    attributed: dict[str, dict[frozenset[str], int]] = {}
    groups = task_groups(demand)
    for keys in sorted(groups, key=group_order):
        remaining = groups[keys]
        candidates = [manager_id for manager_id in sorted(capacity) if by_id[manager_id].covers(keys)]
        for tier in _tiers_by_fit(candidates, by_id, keys):
            if remaining <= 0:
                break
            for manager_id, amount in water_fill(remaining, {i: capacity[i] for i in tier}).items():
                if amount <= 0:
                    continue
                attributed.setdefault(manager_id, {})[keys] = amount
                if capacity[manager_id] != UNLIMITED:
                    capacity[manager_id] -= amount
                remaining -= amount
    return attributed


def water_fill(amount: int, capacities: Mapping[str, int]) -> dict[str, int]:
    """Split ``amount`` as evenly as possible without giving anyone more than its capacity (-1 = unlimited).

    Whole tasks only, so the shares add up exactly and no rounding dust can start a worker.
    """
    shares: dict[str, int] = {}
    left = len(capacities)
    # Smallest capacity first: whoever cannot take an even share takes all it can, the rest share what remains.
    for name in sorted(capacities, key=lambda n: (capacities[n] == UNLIMITED, capacities[n], n)):
        share = clamp(math.ceil(amount / left), capacities[name])
        shares[name] = share
        amount -= share
        left -= 1
    return shares


def apportion(total: int, weights: Mapping[frozenset[str], int]) -> dict[frozenset[str], int]:
    """Split an integer total in proportion to weights (largest remainder), deterministically."""
    weight_sum = sum(weights.values())
    if total <= 0 or weight_sum <= 0:
        return {keys: 0 for keys in weights}
    exact = {keys: total * weight / weight_sum for keys, weight in weights.items()}
    shares = {keys: math.floor(value) for keys, value in exact.items()}
    short = total - sum(shares.values())
    by_remainder = sorted(weights, key=lambda keys: (-(exact[keys] - shares[keys]), group_order(keys)))
    for keys in by_remainder[:short]:
        shares[keys] += 1
    return shares


def _task_capacity(manager: ManagerView) -> int:
    limit = manager.max_task_concurrency
    return UNLIMITED if limit == UNLIMITED else CAPABILITY_UP_RATIO * max(0, limit)


def _tiers_by_fit(candidates: list[str], by_id: Mapping[str, ManagerView], keys: frozenset[str]) -> list[list[str]]:
    extra = {manager_id: len(by_id[manager_id].capability_keys - keys) for manager_id in candidates}
    return [[i for i in candidates if extra[i] == level] for level in sorted(set(extra.values()))]
