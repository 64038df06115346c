"""The worker manager's process: heartbeat to the scheduler and converge on what it asks for.

Shared by every "dynamic" manager (baremetal_native, aws_raw_ecs, orb_aws_ec2, oci_raw): they differ only
in their ``Provisioner``. In fixed mode the runner starts its units once and ignores scaling commands.

A manager whose scheduler is silent for ``death_timeout_seconds`` (or that the scheduler refuses) stops all
its units and exits non-zero: cloud capacity must not outlive the scheduler that would use it.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import zmq

from scaler.io.loop import make_event_loop
from scaler.io.scheduler_link import SchedulerLink
from scaler.io.scheduler_link_core import Closed, LinkEvent
from scaler.protocol import messages as m
from scaler.worker_manager_adapter.convergence import Convergence
from scaler.worker_manager_adapter.provisioner import Provisioner, UnitExit

logger = logging.getLogger("scaler.worker_manager")

RECONCILE_SECONDS = 0.5


class WorkerManagerRunner:
    def __init__(
        self,
        scheduler_address: str,
        manager_id: str,
        provisioner: Provisioner,
        max_task_concurrency: int,
        capabilities: dict[str, int],
        heartbeat_interval_seconds: float,
        scale_down_cooldown_seconds: float,
        fixed_units: int | None = None,
        event_loop: str = "builtin",
        io_threads: int = 1,
        death_timeout_seconds: float = 300.0,
    ) -> None:
        self.manager_id = manager_id
        self._provisioner = provisioner
        self._max_task_concurrency = max_task_concurrency
        self._capabilities = capabilities
        self._fixed_units = fixed_units
        self._cooldown_seconds = scale_down_cooldown_seconds
        max_units = -1 if max_task_concurrency < 0 else max_task_concurrency // max(1, provisioner.workers_per_unit)
        self._convergence = Convergence(
            capabilities, provisioner.workers_per_unit, max_units, scale_down_cooldown_seconds
        )
        self._context: zmq.Context[Any] = zmq.Context(io_threads=io_threads)
        identity = f"WorkerManager|{manager_id}|{os.getpid()}".encode()
        self.exit_code = 0
        self._last_exit: UnitExit | None = None
        self.loop = make_event_loop(event_loop)
        # A fixed pool is not scaled, so it does not register as a manager (no heartbeat): its workers report the
        # id of the manager that scales them (e.g. an oci_raw or aws_raw_ecs manager that started this pool
        # remotely), and each of them leaves when the scheduler is gone, which ends the pool.
        self._scheduler = SchedulerLink(
            self._context,
            self.loop,
            scheduler_address,
            identity,
            heartbeat_interval=heartbeat_interval_seconds,
            death_timeout=death_timeout_seconds if fixed_units is None else 0.0,
            heartbeat=self._heartbeat if fixed_units is None else None,
            on_message=self._on_message,
            on_event=self._on_link_event,
        )
        self.loop.call_every(RECONCILE_SECONDS, self._reconcile)

    def run(self) -> int:
        if self._fixed_units is not None:
            logger.info("worker manager %r: starting %d fixed worker unit(s)", self.manager_id, self._fixed_units)
            self._provisioner.start_units(self._fixed_units)
        try:
            self.loop.run()
        finally:
            logger.info("worker manager %r: stopping all workers", self.manager_id)
            self._provisioner.terminate()
            self._scheduler.close(linger_ms=0)
            self._context.term()
        return self.exit_code

    def _heartbeat(self) -> m.WorkerManagerHeartbeat:
        return m.WorkerManagerHeartbeat(
            m.PROTOCOL_VERSION, self.manager_id, self._max_task_concurrency, self._capabilities,
            self._provisioner.live_units() * self._provisioner.workers_per_unit,
        )  # fmt: skip

    def _on_link_event(self, event: LinkEvent) -> None:
        if isinstance(event, Closed):
            logger.error("worker manager %r: stopping its workers and exiting: %s", self.manager_id, event.text)
            self.exit_code = 1
            self.loop.stop()

    def _on_message(self, message: Any) -> None:
        if isinstance(message, m.WorkerManagerCommand):
            if self._fixed_units is None:
                self._convergence.on_command(message.desired)
                self._reconcile()
        elif isinstance(message, m.WorkerShutdown):
            logger.info("worker manager %r: scheduler is shutting down", self.manager_id)
            self.loop.stop()

    def _reconcile(self) -> None:
        exits = self._provisioner.collect_exits()
        if exits:
            for unit in exits:
                for worker_id in unit.worker_ids:
                    self._scheduler.send(m.WorkerDied(worker_id, unit.exit_code))
            self._scheduler.flush()  # from a timer: the loop's next wake-up could be a while away
            for unit in exits:
                logger.warning("worker manager %r: unit ended: %s", self.manager_id, unit.reason)
                self._last_exit = unit
        if self._fixed_units is not None:
            if self._provisioner.live_units() == 0:
                last = self._last_exit
                if last is not None and last.exit_code != 0:
                    # e.g. the workers left because the scheduler is gone: the pool did not end well either.
                    logger.error("worker manager %r: every fixed worker has ended, the last one: %s",
                                 self.manager_id, last.reason)  # fmt: skip
                    self.exit_code = 1
                else:
                    logger.info("worker manager %r: every fixed worker has ended; exiting", self.manager_id)
                self.loop.stop()  # units are not replaced, so the pool ends with its last worker
            return
        decision = self._convergence.decide(self._provisioner.live_units(), time.monotonic())
        if decision.start:
            logger.info("worker manager %r: starting %d unit(s)", self.manager_id, decision.start)
            self._provisioner.start_units(decision.start)
        elif decision.stop:
            logger.info("worker manager %r: stopping %d idle unit(s)", self.manager_id, decision.stop)
            self._provisioner.stop_units(decision.stop)
        elif decision.stop_after_cooldown:
            logger.info(
                "worker manager %r: the scheduler asked for %d unit(s) fewer; stopping them in %gs unless demand "
                "returns (--scale-down-cooldown-seconds)",
                self.manager_id, decision.stop_after_cooldown, self._cooldown_seconds,
            )  # fmt: skip


def run_manager(config: Any, manager_id: str, provisioner: Provisioner, fixed_units: int | None = None) -> int:
    """Build a runner from the common ``WorkerManagerConfig`` fields, run it until SIGINT/SIGTERM; its exit code.

    Every dynamic manager (baremetal_native, aws_raw_ecs, orb_aws_ec2, oci_raw) ends this way."""
    runner = WorkerManagerRunner(
        scheduler_address=str(config.scheduler_address),
        manager_id=manager_id,
        provisioner=provisioner,
        max_task_concurrency=config.max_task_concurrency,
        capabilities=dict(config.per_worker_capabilities),
        heartbeat_interval_seconds=config.heartbeat_interval_seconds,
        scale_down_cooldown_seconds=config.scale_down_cooldown_seconds,
        fixed_units=fixed_units,
        event_loop=config.event_loop,
        io_threads=config.io_threads,
        death_timeout_seconds=config.death_timeout_seconds,
    )
    runner.loop.stop_on_signals()
    return runner.run()
