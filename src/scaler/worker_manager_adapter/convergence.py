"""Turning the scheduler's desired task concurrency into "start N units" / "stop N units" (pure, no I/O).

A *unit* is what a manager starts at once: one local worker process (baremetal_native), one Fargate task
running several workers (aws_raw_ecs), one EC2 instance or container instance (orb_aws_ec2, oci_raw).

Rules:
- desired workers = the sum of the requests whose capability keys this manager's workers have
  (a request with no capabilities matches every manager);
- desired units = ceil(desired workers / workers per unit), capped by ``max_units`` (-1: no cap);
- scaling up happens at once; scaling down only once a lower target has been asked for continuously for
  ``scale_down_cooldown_seconds``, so a short lull between bursts does not tear down warm workers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scaler.protocol import messages as m


@dataclass(frozen=True)
class Decision:
    start: int = 0
    stop: int = 0
    # Set once, when the scheduler first asks for fewer units: how many will stop when the cooldown has passed
    # (so that the manager can say so in its log, rather than seeming to ignore the request).
    stop_after_cooldown: int = 0


class Convergence:
    def __init__(
        self,
        capabilities: Mapping[str, int],
        workers_per_unit: int,
        max_units: int,
        scale_down_cooldown_seconds: float,
    ) -> None:
        self._keys = frozenset(capabilities)
        self._workers_per_unit = max(1, workers_per_unit)
        self._max_units = max_units
        self._cooldown = scale_down_cooldown_seconds
        self._desired_units = 0
        self._lower_since: float | None = None

    @property
    def desired_units(self) -> int:
        return self._desired_units

    def on_command(self, requests: Sequence[m.DesiredTaskConcurrency]) -> None:
        workers = sum(r.task_concurrency for r in requests if frozenset(r.capabilities) <= self._keys)
        units = math.ceil(max(0, workers) / self._workers_per_unit)
        if self._max_units >= 0:
            units = min(units, self._max_units)
        self._desired_units = units

    def decide(self, live_units: int, now: float) -> Decision:
        if self._desired_units > live_units:
            self._lower_since = None
            return Decision(start=self._desired_units - live_units)
        if self._desired_units == live_units:
            self._lower_since = None
            return Decision()
        if self._lower_since is None and self._cooldown > 0:
            self._lower_since = now
            return Decision(stop_after_cooldown=live_units - self._desired_units)
        if self._lower_since is not None and now - self._lower_since < self._cooldown:
            return Decision()
        self._lower_since = None
        return Decision(stop=live_units - self._desired_units)
