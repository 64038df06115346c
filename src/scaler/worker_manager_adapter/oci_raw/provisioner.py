"""oci_raw units: one container instance each, running a fixed pool of ``workers_per_unit`` Scaler workers.

The runner calls ``start_units``/``stop_units``/``live_units``/``collect_exits`` from its event loop; they only
touch local state and hand the OCI calls to a small thread pool, so the loop never waits on OCI. A unit is
counted live from the moment it is asked for, so convergence does not ask twice while an instance boots.

Instances are named ``scaler-<manager id>-<suffix>`` and tagged with the manager id and the unit name: a listing
(every ``refresh_interval``) matches them to units, a restarted manager adopts what its predecessor left
(``recover``), and an instance of ours that no unit claims is deleted. An instance that ends FAILED or INACTIVE,
or is not ACTIVE within ``start_timeout``, is reported with OCI's own lifecycle details and deleted; the runner
asks for a replacement, which waits out an exponential back-off so that a broken image or subnet never turns
into a tight create/fail loop. Throttling (429) and service errors are retried with the same back-off and logged
once. ``terminate`` deletes every instance this manager owns.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scaler.worker_manager_adapter.oci_common.calls import SDK_THREADS, CallPool
from scaler.worker_manager_adapter.oci_common.models import TERMINAL_STATES, InstanceInfo, InstanceSpec, OciError
from scaler.worker_manager_adapter.oci_common.pacing import Backoff, OnceLog
from scaler.worker_manager_adapter.provisioner import UnitExit

if TYPE_CHECKING:
    from scaler.worker_manager_adapter.oci_common.gateway import OciGateway

logger = logging.getLogger("scaler.oci_raw")

MANAGER_TAG = "scaler-manager-id"
UNIT_TAG = "scaler-unit"
TERMINATE_SECONDS = 8.0  # the scaler launcher allows a manager 10 s to stop before it kills it


@dataclass(frozen=True)
class RawUnitSettings:
    manager_id: str
    workers_per_unit: int
    instance: InstanceSpec  # template; the name, environment and tags are set per unit
    command: Callable[[str], str]  # unit suffix -> the worker command run in the container
    environment: dict[str, str]  # PYTHON_REQUIREMENTS, PYTHON_VERSION
    refresh_interval_seconds: float
    start_timeout_seconds: float


@dataclass
class _Unit:
    name: str
    suffix: str
    phase: str = "pending"  # pending -> creating -> placed; any -> stopping
    instance_id: str | None = None
    state: str = "REQUESTED"  # OCI's lifecycle state once placed
    created_at: float = 0.0


class OciRawProvisioner:
    def __init__(self, gateway: OciGateway, settings: RawUnitSettings, clock: Callable[[], float] = time.monotonic):
        self.workers_per_unit = settings.workers_per_unit
        self._gateway = gateway
        self._settings = settings
        self._clock = clock
        self._calls = CallPool("oci-raw")
        self._lock = threading.Lock()
        self._units: dict[str, _Unit] = {}
        self._exits: list[UnitExit] = []
        self._refreshing = False
        self._last_refresh = 0.0
        self._backoff = Backoff(initial=2.0, maximum=300.0)
        self._errors = OnceLog(logger)
        self._closed = False

    # --- Provisioner ---------------------------------------------------------------------------------------------

    def start_units(self, count: int) -> None:
        with self._lock:
            for _ in range(count):
                suffix = secrets.token_hex(4)
                name = f"scaler-{self._settings.manager_id}-{suffix}"
                self._units[name] = _Unit(name, suffix)
        self._pump()

    def stop_units(self, count: int) -> None:
        order = {"pending": 0, "creating": 1}  # not yet running first; then the newest (coldest) instances
        with self._lock:
            candidates = [u for u in self._units.values() if u.phase != "stopping"]
            candidates.sort(key=lambda u: (order.get(u.phase, 2 if u.state != "ACTIVE" else 3), -u.created_at))
            victims = candidates[:count]
            for unit in victims:
                if unit.phase == "pending":
                    del self._units[unit.name]
                    continue
                placed = unit.phase == "placed"
                unit.phase = "stopping"  # a unit still being created is deleted when its create returns
                if placed:
                    self._calls.spawn(self._delete, unit)

    def live_units(self) -> int:
        self._pump()
        with self._lock:
            return sum(1 for unit in self._units.values() if unit.phase != "stopping")

    def collect_exits(self) -> list[UnitExit]:
        self._pump()
        with self._lock:
            exits, self._exits = self._exits, []
        return exits

    def terminate(self) -> None:
        deadline = self._clock() + TERMINATE_SECONDS
        with self._lock:
            self._closed = True
        # Let the calls in flight finish: a create still running would otherwise leave an instance nobody knows.
        self._calls.wait(TERMINATE_SECONDS / 2)
        with self._lock:
            ids = {u.instance_id for u in self._units.values() if u.instance_id}
            self._units.clear()
        try:
            ids |= {i.id for i in self._owned_instances() if i.state not in TERMINAL_STATES}
        except OciError as error:
            logger.error("oci_raw: cannot list container instances to delete them: %s", error)
        deletes = self._calls.map_untracked(self._delete_id, ids)
        done, pending = concurrent.futures.wait(deletes, timeout=max(0.5, deadline - self._clock()))
        deleted = sum(1 for future in done if future.result())
        self._calls.shutdown()
        logger.info("oci_raw: deleted %d container instance(s) of manager %r", deleted, self._settings.manager_id)
        if pending:
            logger.error("oci_raw: %d delete(s) did not finish; check instances tagged %s=%s",
                         len(pending), MANAGER_TAG, self._settings.manager_id)  # fmt: skip

    def recover(self) -> int:
        """Adopt the running instances a previous run of this manager left; delete its ended ones. Returns the
        number adopted (the runner then keeps or stops them like any other unit)."""
        adopted = 0
        for info in self._owned_instances():
            if info.state in ("DELETING", "DELETED"):
                continue
            if info.state in TERMINAL_STATES:
                self._delete_id(info.id)
                continue
            name = info.freeform_tags.get(UNIT_TAG, info.display_name)
            suffix = name.rsplit("-", 1)[-1]
            self._units[name] = _Unit(name, suffix, "placed", info.id, info.state, self._clock())
            adopted += 1
        if adopted:
            logger.warning("oci_raw: adopted %d container instance(s) left by a previous run of manager %r",
                           adopted, self._settings.manager_id)  # fmt: skip
        return adopted

    def worker_ids(self, suffix: str) -> list[bytes]:
        """The ids the workers of a unit take (``baremetal_native`` names them Worker|<type>|<manager>|<n>)."""
        prefix = f"Worker|OCI_RAW-{suffix}|{self._settings.manager_id}"
        return [f"{prefix}|{n}".encode() for n in range(1, self.workers_per_unit + 1)]

    # --- scheduling (loop thread) --------------------------------------------------------------------------------

    def _pump(self) -> None:
        now = self._clock()
        with self._lock:
            if self._closed:
                return
            if self._backoff.ready(now):
                for unit in [u for u in self._units.values() if u.phase == "pending"][:SDK_THREADS]:
                    unit.phase = "creating"
                    self._calls.spawn(self._create, unit)
            if not self._refreshing and now - self._last_refresh >= self._settings.refresh_interval_seconds:
                self._refreshing = True
                self._calls.spawn(self._refresh)

    # --- OCI calls (pool threads) --------------------------------------------------------------------------------

    def _create(self, unit: _Unit) -> None:
        try:
            info = self._gateway.create_instance(self._spec(unit), retry_token=unit.name)
        except OciError as error:
            self._create_failed(unit, error)
            return
        self._errors.recovered("create", "creating container instances")
        logger.info("oci_raw: created container instance %s (%s)", unit.name, info.id)
        with self._lock:
            unit.instance_id, unit.state, unit.created_at = info.id, info.state, self._clock()
            stopping = unit.phase == "stopping" or self._closed
            if not stopping:
                unit.phase = "placed"
        if stopping:
            self._delete(unit)

    def _create_failed(self, unit: _Unit, error: OciError) -> None:
        delay = self._backoff.failure(self._clock())
        with self._lock:
            keep = error.transient and unit.phase == "creating"
            if keep:
                unit.phase = "pending"  # same name, same retry token: a create that did succeed is not doubled
            else:
                self._units.pop(unit.name, None)
        if error.transient:
            self._errors.failed("create", f"oci_raw: cannot create container instances now ({error}); next "
                                f"try in {delay:.0f}s")  # fmt: skip
        else:
            reason = f"cannot create container instance {unit.name}: {error}; next try in {delay:.0f}s"
            self._report(unit, reason, with_workers=False)

    def _refresh(self) -> None:
        try:
            listed = {info.id: info for info in self._owned_instances()}
        except OciError as error:
            self._errors.failed("list", f"oci_raw: cannot list container instances ({error})")
            listed = None
        with self._lock:
            self._refreshing = False
            self._last_refresh = self._clock()
            placed = [u for u in self._units.values() if u.phase == "placed"]
            claimed = {u.instance_id for u in self._units.values()} | {u.name for u in self._units.values()}
        if listed is None:
            return
        self._errors.recovered("list", "listing container instances")
        for unit in placed:
            assert unit.instance_id is not None
            info = listed.get(unit.instance_id) or self._get(unit.instance_id)
            if info is not None:
                self._observe(unit, info)
        for info in listed.values():  # ours, but no unit claims it: a unit stopped while its create was retried
            name = info.freeform_tags.get(UNIT_TAG, "")
            if info.id not in claimed and name not in claimed and info.state not in ("DELETING", "DELETED"):
                logger.warning("oci_raw: deleting unclaimed container instance %s (%s)", info.display_name, info.id)
                self._delete_id(info.id)

    def _get(self, instance_id: str) -> InstanceInfo | None:
        try:
            info = self._gateway.get_instance(instance_id)
        except OciError:
            return None  # unknown for now: the next listing decides
        return info if info is not None else InstanceInfo(instance_id, "", "DELETED", "deleted outside this manager")

    def _observe(self, unit: _Unit, info: InstanceInfo) -> None:
        now = self._clock()
        with self._lock:
            if unit.phase != "placed":
                return
            became_active = info.state == "ACTIVE" and unit.state != "ACTIVE"
            unit.state = info.state
        if became_active:
            logger.info("oci_raw: container instance %s is ACTIVE", unit.name)
            self._backoff.success()  # a healthy instance: whatever failed before is fixed
        if info.state in TERMINAL_STATES:
            reason = f"container instance {unit.name} ({info.id}) ended {info.state}: {info.details}"
        elif info.state != "ACTIVE" and now - unit.created_at > self._settings.start_timeout_seconds:
            timeout = self._settings.start_timeout_seconds
            reason = f"container instance {unit.name} ({info.id}) not ACTIVE after {timeout:g}s ({info.state}: "
            reason += f"{info.details}); deleting it"
        else:
            return
        self._backoff.failure(now)
        with self._lock:
            self._units.pop(unit.name, None)
        self._report(unit, reason, with_workers=True)
        if info.state not in ("DELETING", "DELETED"):
            self._delete_id(info.id)

    def _delete(self, unit: _Unit) -> None:
        if unit.instance_id is not None:
            self._delete_id(unit.instance_id)
        with self._lock:
            self._units.pop(unit.name, None)

    def _delete_id(self, instance_id: str) -> bool:
        for attempt in range(4):
            try:
                return self._gateway.delete_instance(instance_id)
            except OciError as error:
                if not error.transient or attempt == 3:
                    logger.error("oci_raw: cannot delete container instance %s: %s", instance_id, error)
                    return False
                time.sleep(0.5 * 2**attempt)
        return False

    def _owned_instances(self) -> list[InstanceInfo]:
        template = self._settings.instance
        listed = self._gateway.list_instances(template.compartment_id, template.availability_domain)
        return [info for info in listed if info.freeform_tags.get(MANAGER_TAG) == self._settings.manager_id]

    def _report(self, unit: _Unit, reason: str, with_workers: bool) -> None:
        workers = self.worker_ids(unit.suffix) if with_workers else []
        with self._lock:
            self._exits.append(UnitExit(workers, 1, reason))

    def _spec(self, unit: _Unit) -> InstanceSpec:
        settings = self._settings
        environment = {**settings.environment, "COMMAND": settings.command(unit.suffix)}
        tags = {MANAGER_TAG: settings.manager_id, UNIT_TAG: unit.name}
        return dataclasses.replace(
            settings.instance, display_name=unit.name, environment=environment, freeform_tags=tags
        )
