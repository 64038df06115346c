"""Fargate tasks as units: one unit = one ECS task running ``ecs_task_cpu`` workers.

ECS calls never run on the manager's event loop: starts, stops and status sweeps go to a small thread pool,
and ``live_units`` answers from local state (tasks known plus starts in flight). Every task carries
``startedBy = <tag>``, so that ``terminate`` also finds a task whose RunTask answer was lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from scaler.worker_manager_adapter.aws_raw_ecs.gateway import RUN_TASK_MAX, EcsTaskStatus, TaskLaunch
from scaler.worker_manager_adapter.provisioner import UnitExit
from scaler.worker_manager_adapter.sdk_calls import SdkCallPool

logger = logging.getLogger("scaler.aws_raw_ecs")

FAILED_START_HOLD_SECONDS = 5.0  # a refused start counts as live this long, so convergence does not hammer RunTask
STOP_REASON = "stopped by the scaler worker manager"


class EcsApi(Protocol):
    def run_tasks(self, launch: TaskLaunch, count: int) -> tuple[list[str], list[str]]: ...

    def describe_tasks(self, cluster: str, arns: list[str]) -> list[EcsTaskStatus]: ...

    def stop_task(self, cluster: str, arn: str, reason: str) -> None: ...

    def running_tasks(self, cluster: str, started_by: str) -> list[str]: ...


class EcsProvisioner:
    def __init__(self, api: EcsApi, launch: TaskLaunch, workers_per_unit: int, status_interval: float) -> None:
        self.workers_per_unit = workers_per_unit
        self._api = api
        self._launch = launch
        self._status_interval = status_interval
        self._pool = SdkCallPool("aws-ecs", logger, threads=4)
        self._lock = threading.Lock()
        self._tasks: dict[str, float] = {}  # task ARN -> when it started (insertion order: oldest first)
        self._starting = 0
        self._exits: list[UnitExit] = []
        self._sweeping = False
        self._next_sweep = 0.0

    def start_units(self, count: int) -> None:
        with self._lock:
            self._starting += count
        for start in range(0, count, RUN_TASK_MAX):
            self._in_thread(self._start, min(RUN_TASK_MAX, count - start))

    def stop_units(self, count: int) -> None:
        with self._lock:
            newest = list(self._tasks)[-count:] if count > 0 else []  # the oldest workers have the warmest caches
            for arn in newest:
                del self._tasks[arn]
        for arn in newest:
            self._in_thread(self._api.stop_task, self._launch.cluster, arn, STOP_REASON)

    def live_units(self) -> int:
        with self._lock:
            return len(self._tasks) + self._starting

    def collect_exits(self) -> list[UnitExit]:
        now = time.monotonic()
        with self._lock:
            exits, self._exits = self._exits, []
            sweep = bool(self._tasks) and not self._sweeping and now >= self._next_sweep
            if sweep:
                self._sweeping = True
                self._next_sweep = now + self._status_interval
                arns = list(self._tasks)
        if sweep:
            self._in_thread(self._sweep, arns)
        return exits

    def terminate(self) -> None:
        self._pool.shutdown(wait=True)  # starts in flight finish first, so their tasks are known and stopped
        with self._lock:
            arns, self._tasks = set(self._tasks), {}
        try:
            arns.update(self._api.running_tasks(self._launch.cluster, self._launch.started_by))
        except Exception as error:
            logger.warning("could not list this manager's ECS tasks: %s", error)
        for arn in sorted(arns):
            try:
                self._api.stop_task(self._launch.cluster, arn, STOP_REASON)
            except Exception as error:
                logger.error("could not stop ECS task %s: %s", arn, error)
        if arns:
            logger.info("stopped %d ECS task(s)", len(arns))

    # --- in the pool's threads -----------------------------------------------------------------------------------

    def _in_thread(self, function: Callable[..., None], *args: Any) -> None:
        self._pool.spawn(function, *args)  # logged if it raises, paced if the service throttles

    def _start(self, count: int) -> None:
        arns: list[str] = []
        try:
            arns, failures = self._api.run_tasks(self._launch, count)
            if failures:
                logger.error("ECS could not start %d task(s): %s", len(failures), "; ".join(failures))
        except Exception as error:
            logger.error("ECS RunTask failed: %s", error)
        if len(arns) < count:
            time.sleep(FAILED_START_HOLD_SECONDS)
        with self._lock:
            self._starting -= count
            now = time.monotonic()
            self._tasks.update((arn, now) for arn in arns)
        logger.info("started %d ECS task(s)", len(arns))

    def _sweep(self, arns: list[str]) -> None:
        try:
            stopped = [s for s in self._api.describe_tasks(self._launch.cluster, arns) if s.last_status == "STOPPED"]
        finally:
            with self._lock:
                self._sweeping = False
        with self._lock:
            for status in stopped:
                if self._tasks.pop(status.arn, None) is not None:  # not one we stopped ourselves
                    reason = f"ECS task {status.arn} stopped: {status.stopped_reason or 'no reason given'}"
                    code = status.exit_code if status.exit_code is not None else -1
                    self._exits.append(UnitExit([], code, reason))
