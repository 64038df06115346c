"""The ``waterfall_v1`` engine: fill worker managers in priority order, drain them in reverse.

Rules (see ``content.py`` for the syntax) give each manager a priority; a lower number is a cheaper or
preferred tier. Allocation is always capability-aware, because tiers usually differ in what they can run.

Scaling, recomputed from scratch on every manager heartbeat:

- Demand is taken per capability group (tasks requiring the same capability keys). A group of n tasks wants
  ceil(n/10) workers. The ladder of *online* managers with a rule, in ascending priority (ties: rule order),
  fills that want. Only managers whose capability keys cover the group's keys take part, and each takes what
  spills past the managers before it, up to its cap. When every task is generic, this is exactly
  "ceil(T/10) workers, filled in priority order".
- A manager's cap is the smaller of its rule's third field and its heartbeat ``max_task_concurrency``
  (-1 meaning unlimited on either side). The cap is shared between groups. Specific groups are served
  first, so a scarce capable manager is not used up by work any manager could do.
- The answer has one request per group the manager serves, carrying its capabilities restricted to the
  group's keys. Groups it takes nothing from are left out, and the manager counts a missing group as 0.
- With no unfinished task at all, a manager keeps its current worker count while any online manager with a
  larger priority number still has workers, and otherwise goes to 0. So the most expensive tier drains first
  and the preferred tier drains last. While tasks remain, the ladder already shrinks the later tiers first.
- A manager with no rule gets no command at all (``None``). A warning is logged once per manager id.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from scaler.scheduler.policy.content import WaterfallRule
from scaler.scheduler.policy.views import (
    UNLIMITED,
    DemandView,
    DesiredConcurrency,
    ManagerView,
    cap_of,
    clamp,
    group_order,
    restrict,
    task_groups,
)

logger = logging.getLogger("scaler.policy")

WATERFALL_TASKS_PER_WORKER = 10


class WaterfallPolicyEngine:
    allocation = "capability"

    def __init__(self, rules: Sequence[WaterfallRule]) -> None:
        self.rules: dict[str, WaterfallRule] = {rule.manager_id: rule for rule in rules}
        self._position = {rule.manager_id: index for index, rule in enumerate(rules)}
        self._warned: set[str] = set()  # manager ids already warned about, so the log is not flooded per heartbeat

    def desired_concurrency(
        self, manager: ManagerView, managers: Sequence[ManagerView], demand: DemandView
    ) -> list[DesiredConcurrency] | None:
        rule = self.rules.get(manager.manager_id)
        if rule is None:
            self._warn_unruled(manager.manager_id)
            return None
        ladder = self.ladder(managers if _contains(managers, manager) else [*managers, manager])
        groups = task_groups(demand)
        if not groups:
            return self._drain(manager, rule, ladder)
        served = self.fill(ladder, groups).get(manager.manager_id, {})
        return [DesiredConcurrency(restrict(manager.capabilities, keys), count) for keys, count in served.items()]

    def could_provide(self, required_keys: frozenset[str], managers: Sequence[ManagerView]) -> bool:
        return any(self.cap(m) != 0 and m.covers(required_keys) for m in self.ladder(managers))

    def cap(self, manager: ManagerView) -> int:
        """The effective concurrency cap of a ruled manager: the tighter of rule and heartbeat (-1: none)."""
        rule_cap = self.rules[manager.manager_id].max_task_concurrency
        heartbeat_cap = manager.max_task_concurrency
        return heartbeat_cap if rule_cap is None else cap_of(rule_cap, heartbeat_cap)

    def ladder(self, managers: Sequence[ManagerView]) -> list[ManagerView]:
        """Online managers that have a rule, in the order they fill."""
        ruled = [m for m in managers if m.manager_id in self.rules]
        return sorted(ruled, key=lambda m: (self.rules[m.manager_id].priority, self._position[m.manager_id]))

    def fill(
        self, ladder: Sequence[ManagerView], groups: dict[frozenset[str], int]
    ) -> dict[str, dict[frozenset[str], int]]:
        """manager id -> {group -> workers}: each group's want poured down the ladder, caps shared across groups."""
        room = {m.manager_id: self.cap(m) for m in ladder}
        served: dict[str, dict[frozenset[str], int]] = {}
        for keys in sorted(groups, key=group_order):
            want = math.ceil(groups[keys] / WATERFALL_TASKS_PER_WORKER)
            for manager in ladder:
                if want <= 0:
                    break
                if room[manager.manager_id] == 0 or not manager.covers(keys):
                    continue
                take = clamp(want, room[manager.manager_id])
                served.setdefault(manager.manager_id, {})[keys] = take
                want -= take
                if room[manager.manager_id] != UNLIMITED:
                    room[manager.manager_id] -= take
        return served

    def _drain(
        self, manager: ManagerView, rule: WaterfallRule, ladder: Sequence[ManagerView]
    ) -> list[DesiredConcurrency]:
        later_tier_busy = any(self.rules[m.manager_id].priority > rule.priority and m.worker_count > 0 for m in ladder)
        keep = clamp(manager.worker_count, self.cap(manager)) if later_tier_busy else 0
        return [DesiredConcurrency({}, keep)] if keep > 0 else []

    def _warn_unruled(self, manager_id: str) -> None:
        if manager_id in self._warned:
            return
        self._warned.add(manager_id)
        logger.warning(
            "worker manager %r has no waterfall_v1 rule and will get no scaling commands (rules name: %s)",
            manager_id,
            ", ".join(sorted(self.rules)),
        )


def _contains(managers: Sequence[ManagerView], manager: ManagerView) -> bool:
    return any(m.manager_id == manager.manager_id for m in managers)
