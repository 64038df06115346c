"""SchedulerClusterCombo: a scheduler, an object storage server and a fixed pool of workers, in one call.

All processes start at once (object storage, scheduler and every worker in parallel: workers simply
connect and wait), which keeps start-up close to the cost of one Python process start.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from typing import Any, cast

import msgspec

from scaler.config.sections.logging_options import LoggingConfig
from scaler.config.sections.scheduler import DEFAULT_POLICY_CONTENT, SchedulerConfig
from scaler.config.sections.worker import WorkerConfig
from scaler.io.address import Address, free_tcp_port
from scaler.io.lifetime import child_environment
from scaler.scheduler.server import scheduler_options_from_config, stop_process
from scaler.worker_manager_adapter.worker_launch import worker_options

logger = logging.getLogger("scaler.cluster")


class SchedulerClusterCombo:
    def __init__(
        self,
        address: str | None = None,
        n_workers: int = max(1, (os.cpu_count() or 2) - 1),
        object_storage_address: str | None = None,
        monitor_address: str | None = None,
        per_worker_capabilities: dict[str, int] | None = None,
        per_worker_task_queue_size: int = 1000,
        heartbeat_interval_seconds: float = 2.0,
        client_timeout_seconds: float = 60.0,
        worker_timeout_seconds: float = 60.0,
        object_retention_seconds: float = 60.0,
        task_timeout_seconds: float = 0.0,
        death_timeout_seconds: float = 300.0,
        load_balance_seconds: float = 1.0,
        load_balance_trigger_times: int = 2,
        garbage_collect_interval_seconds: float = 30.0,
        trim_memory_threshold_bytes: int = 1 << 30,
        hard_processor_suspend: bool = False,
        protected: bool = True,
        max_number_of_tasks_waiting: int = -1,
        policy_engine_type: str = "simple",
        policy_content: str = DEFAULT_POLICY_CONTENT,
        worker_manager_id: str = "combo",
        preload: str | None = None,
        logging_level: str = "WARNING",
        logging_paths: tuple[str, ...] = ("/dev/stdout",),
        logging_config_file: str | None = None,
    ) -> None:
        if address is None:
            address = f"tcp://127.0.0.1:{free_tcp_port()}"
        scheduler = Address.parse(address)
        self._address = str(scheduler)
        if object_storage_address is None:
            object_storage_address = str(
                Address(scheduler.scheme, scheduler.host, free_tcp_port(scheduler.host))
                if scheduler.scheme == "tcp"
                else scheduler.with_port_offset(1)
            )
        self._object_storage_address = object_storage_address
        self._processes: list[subprocess.Popen[bytes]] = []
        python = sys.executable
        self._start([python, "-m", "scaler.object_storage", object_storage_address, logging_level])
        # The same config classes as the commands: every value is checked the same way, and turned into what the
        # scheduler and the workers run with in one place each.
        scheduler_config = SchedulerConfig(
            scheduler_address=scheduler,
            object_storage_address=Address.parse(object_storage_address),
            monitor_address=Address.parse(monitor_address) if monitor_address else None,
            client_timeout_seconds=client_timeout_seconds,
            worker_timeout_seconds=worker_timeout_seconds,
            load_balance_seconds=load_balance_seconds,
            load_balance_trigger_times=load_balance_trigger_times,
            protected=protected,
            max_number_of_tasks_waiting=max_number_of_tasks_waiting,
            object_retention_seconds=object_retention_seconds,
            policy_engine_type=cast(Any, policy_engine_type),  # checked by the config class, as from a command line
            policy_content=policy_content,
            logging_level=cast(Any, logging_level),
        )
        scheduler_options = scheduler_options_from_config(scheduler_config)
        self._start([python, "-m", "scaler.scheduler", msgspec.json.encode(scheduler_options).decode(), logging_level])
        worker_config = WorkerConfig(
            object_storage_address=Address.parse(object_storage_address),
            per_worker_capabilities=dict(per_worker_capabilities or {}),
            per_worker_task_queue_size=per_worker_task_queue_size,
            heartbeat_interval_seconds=heartbeat_interval_seconds,
            task_timeout_seconds=task_timeout_seconds,
            death_timeout_seconds=death_timeout_seconds,
            garbage_collect_interval_seconds=garbage_collect_interval_seconds,
            trim_memory_threshold_bytes=trim_memory_threshold_bytes,
            hard_processor_suspend=hard_processor_suspend,
            preload=preload,
        )
        logging_config = LoggingConfig(
            logging_level=cast(Any, logging_level),
            logging_paths=("/dev/stderr",),  # the combo's processes log to their standard streams (see below)
        )
        options = worker_options(
            worker_config, logging_config, scheduler_address=self._address, manager_id=worker_manager_id, prefix="FIX"
        )
        for _ in range(n_workers):
            self._start([python, "-m", "scaler.worker.agent", options.to_json()])
        # Accepted for interface compatibility (libraries such as parfun pass them): the combo's processes log
        # at ``logging_level`` to their standard streams.
        del logging_paths, logging_config_file

    def _start(self, command: list[str]) -> None:
        # Children die with this process even if it never calls shutdown() (a crash, a kill -9).
        self._processes.append(subprocess.Popen(command, stdin=subprocess.DEVNULL, env=child_environment()))

    def get_address(self) -> str:
        return self._address

    @property
    def object_storage_address(self) -> str:
        return self._object_storage_address

    @property
    def worker_pids(self) -> list[int]:
        return [process.pid for process in self._processes[2:]]

    def shutdown(self) -> None:
        """Stop the workers, then the scheduler, then object storage."""
        processes, self._processes = self._processes, []
        started = time.monotonic()
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in reversed(processes):
            stop_process(process, grace_seconds=max(0.5, 5.0 - (time.monotonic() - started)))

    def __enter__(self) -> SchedulerClusterCombo:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __del__(self) -> None:
        try:
            self.shutdown()
        except Exception:
            pass
