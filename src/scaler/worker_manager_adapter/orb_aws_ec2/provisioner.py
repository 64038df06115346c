"""EC2 instances as units, requested and returned through ORB: one unit = one instance with one worker per vCPU.

ORB and EC2 calls run in a small thread pool, never on the manager's event loop; ``live_units`` answers from
local state (instances known plus requests in flight). Every instance carries the tag ``scaler:orb-manager``,
so that ``terminate`` also finds an instance whose request answer was lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from scaler.worker_manager_adapter.provisioner import UnitExit
from scaler.worker_manager_adapter.sdk_calls import SdkCallPool

logger = logging.getLogger("scaler.orb_aws_ec2")

MANAGER_TAG = "scaler:orb-manager"
REQUEST_POLLS = 60
ENDED_STATES = ("shutting-down", "terminated", "stopping", "stopped")


class OrbApi(Protocol):
    def request_machines(self, template_id: str, count: int) -> str: ...

    def request_status(self, request_id: str) -> tuple[str, list[str], str]: ...

    def return_machines(self, machine_ids: list[str]) -> None: ...


class Ec2Api(Protocol):
    def instance_states(self, instance_ids: list[str]) -> dict[str, str]: ...

    def tagged_instances(self, key: str, value: str) -> list[str]: ...

    def terminate_instances(self, instance_ids: list[str]) -> None: ...


class OrbProvisioner:
    def __init__(
        self, orb: OrbApi, ec2: Ec2Api, template_id: str, manager_tag: str, workers_per_unit: int, interval: float
    ) -> None:
        self.workers_per_unit = workers_per_unit
        self._orb = orb
        self._ec2 = ec2
        self._template_id = template_id
        self._manager_tag = manager_tag
        self._interval = interval
        self._pool = SdkCallPool("orb", logger, threads=4)
        self._lock = threading.Lock()
        self._instances: list[str] = []  # oldest first
        self._requested = 0
        self._exits: list[UnitExit] = []
        self._sweeping = False
        self._next_sweep = 0.0

    def start_units(self, count: int) -> None:
        with self._lock:
            self._requested += count
        self._in_thread(self._request, count)

    def stop_units(self, count: int) -> None:
        with self._lock:
            newest = self._instances[-count:] if count > 0 else []  # the oldest workers have the warmest caches
            del self._instances[len(self._instances) - len(newest) :]
        if newest:
            self._in_thread(self._orb.return_machines, newest)

    def live_units(self) -> int:
        with self._lock:
            return len(self._instances) + self._requested

    def collect_exits(self) -> list[UnitExit]:
        now = time.monotonic()
        with self._lock:
            exits, self._exits = self._exits, []
            sweep = bool(self._instances) and not self._sweeping and now >= self._next_sweep
            if sweep:
                self._sweeping = True
                self._next_sweep = now + self._interval
                tracked = list(self._instances)
        if sweep:
            self._in_thread(self._sweep, tracked)
        return exits

    def terminate(self) -> None:
        self._pool.shutdown(wait=True)  # requests in flight finish first, so their instances are known
        with self._lock:
            instances, self._instances = set(self._instances), []
        try:
            instances.update(self._ec2.tagged_instances(MANAGER_TAG, self._manager_tag))
        except Exception as error:
            logger.warning("could not list this manager's instances: %s", error)
        if not instances:
            return
        try:
            self._orb.return_machines(sorted(instances))
        except Exception as error:
            logger.error("ORB could not return instances %s: %s", sorted(instances), error)
        # Whatever ORB did not end (its request failed, or it does not know the instance) is terminated directly.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            live = [i for i, state in self._ec2.instance_states(sorted(instances)).items() if state != "terminated"]
            if not live:
                logger.info("returned %d instance(s)", len(instances))
                return
            self._ec2.terminate_instances(
                [i for i, s in self._ec2.instance_states(live).items() if s != "shutting-down"]
            )
            time.sleep(self._interval)
        logger.error("instances still not terminated after 120s: %s", live)

    # --- in the pool's threads -----------------------------------------------------------------------------------

    def _in_thread(self, function: Callable[..., None], *args: Any) -> None:
        self._pool.spawn(function, *args)  # logged if it raises, paced if the service throttles

    def _request(self, count: int) -> None:
        machines: list[str] = []
        try:
            request_id = self._orb.request_machines(self._template_id, count)
            for _ in range(REQUEST_POLLS):
                status, machines, message = self._orb.request_status(request_id)
                if status in ("complete", "complete_with_error", "failed"):
                    if status != "complete":
                        logger.error("ORB request %s ended %s: %s", request_id, status, message)
                    break
                time.sleep(self._interval)
            else:
                logger.error("ORB request %s did not complete in time", request_id)
        finally:
            if len(machines) < count:
                time.sleep(self._interval)  # a refused request counts as live a little longer: no hammering
            with self._lock:
                self._requested -= count
                self._instances.extend(machines)
        logger.info("started %d instance(s)", len(machines))

    def _sweep(self, tracked: list[str]) -> None:
        try:
            states = self._ec2.instance_states(tracked)
        finally:
            with self._lock:
                self._sweeping = False
        with self._lock:
            for instance_id, state in states.items():
                if state in ENDED_STATES and instance_id in self._instances:  # not one we returned ourselves
                    self._instances.remove(instance_id)
                    self._exits.append(UnitExit([], -1, f"instance {instance_id} is {state}"))
