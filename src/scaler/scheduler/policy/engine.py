"""The policy engine the scheduler core consults: built once at start-up from ``--policy-engine-type`` and
``--policy-content``, then asked two questions on the core's schedule.

- ``desired_concurrency(manager, managers, demand)``: what command to send a worker manager on its heartbeat
  (``None``: send none).
- ``could_provide(required_keys, managers)``: whether a task whose capabilities no connected worker has
  should keep waiting (a manager could start a worker for it) or fail now with a clear error.

``allocation`` names how the core places tasks ("even_load" or "capability"). Placement and balancing live
in the core, and the core only reads this name from the engine.

Engines are plain objects with no I/O and no clock, so every rule is unit-tested with hand-made views.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from scaler.scheduler.policy.content import (
    PolicyConfigError,
    check_engine_type,
    parse_simple_content,
    parse_waterfall_content,
)
from scaler.scheduler.policy.scaling import capability_desired, may_scale, vanilla_desired
from scaler.scheduler.policy.views import DemandView, DesiredConcurrency, ManagerView
from scaler.scheduler.policy.waterfall import WaterfallPolicyEngine

__all__ = ["PolicyConfigError", "PolicyEngine", "SimplePolicyEngine", "WaterfallPolicyEngine", "make_policy_engine"]


class PolicyEngine(Protocol):
    allocation: str  # "even_load" or "capability"

    def desired_concurrency(
        self, manager: ManagerView, managers: Sequence[ManagerView], demand: DemandView
    ) -> list[DesiredConcurrency] | None: ...

    def could_provide(self, required_keys: frozenset[str], managers: Sequence[ManagerView]) -> bool: ...


class SimplePolicyEngine:
    """``simple``: one allocation rule and one scaling rule, applied the same way to every manager."""

    def __init__(self, allocation: str, scaling: str) -> None:
        self.allocation = allocation
        self.scaling = scaling

    def desired_concurrency(
        self, manager: ManagerView, managers: Sequence[ManagerView], demand: DemandView
    ) -> list[DesiredConcurrency] | None:
        if self.scaling == "vanilla":
            # One wildcard request: the manager starts workers with its own capabilities.
            return [DesiredConcurrency({}, vanilla_desired(manager, managers, demand))]
        if self.scaling == "capability":
            return capability_desired(manager, managers, demand)
        return None  # "no": managers keep whatever they started with

    def could_provide(self, required_keys: frozenset[str], managers: Sequence[ManagerView]) -> bool:
        if self.scaling == "no":
            return False  # nothing would ever ask a manager to start the missing worker
        return any(may_scale(m) and m.covers(required_keys) for m in managers)


def make_policy_engine(engine_type: str, content: str) -> PolicyEngine:
    """Build the engine, or raise ``PolicyConfigError`` (a ``ValueError``) naming what is wrong."""
    if check_engine_type(engine_type) == "simple":
        parsed = parse_simple_content(content)
        return SimplePolicyEngine(allocation=parsed.allocate, scaling=parsed.scaling)
    return WaterfallPolicyEngine(parse_waterfall_content(content))
