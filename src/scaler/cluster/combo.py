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

import msgspec

from scaler.io.address import Address, free_tcp_port
from scaler.io.lifetime import child_environment
from scaler.io.sockets import register_local_cluster
from scaler.scheduler.core import SchedulerSettings
from scaler.scheduler.server import SchedulerOptions, stop_process
from scaler.security.credentials import ENVIRONMENT_VARIABLE, PeerCredentials, ServerCredentials, resolve
from scaler.security.ephemeral import ClusterKeys, cluster_keys
from scaler.security.exposure import is_loopback
from scaler.worker.agent.options import WorkerOptions

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
        policy_content: str = "allocate=even_load; scaling=no",
        worker_manager_id: str = "combo",
        preload: str | None = None,
        logging_level: str = "WARNING",
        logging_paths: tuple[str, ...] = ("/dev/stdout",),
        logging_config_file: str | None = None,
        credentials: str | os.PathLike[str] | ServerCredentials | None = None,
        secure: bool = True,
    ) -> None:
        """``credentials``: a scheduler's credentials file (``scaler_keys init``) whose authorized peers may connect
        too; by default fresh keys that only this process holds. ``secure=False`` turns authentication and
        encryption off (anyone who can reach the ports may then run code on the workers)."""
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
        self._keys = _cluster_keys(credentials, is_loopback(scheduler)) if secure else None
        server_environment = self._keys.environment_for_server() if self._keys else {}
        worker_environment = self._keys.environment_for_workers() if self._keys else {}
        # Client(address) and other tools in this process connect to the cluster as its owner.
        monitor = monitor_address or str(scheduler.with_port_offset(2))
        self._own_addresses = [self._address, object_storage_address, monitor]
        register_local_cluster(self._own_addresses, self._keys.owner if self._keys else None)
        # Tools this process starts (scaler_top, a subprocess client) inherit the owner's credentials, as text in
        # the environment: readable by this user only, like the process's memory; restored at shutdown.
        self._previous_environment = os.environ.get(ENVIRONMENT_VARIABLE)
        self._own_environment = self._keys.owner.to_toml() if self._keys else None
        if self._own_environment is not None:
            os.environ[ENVIRONMENT_VARIABLE] = self._own_environment
        python = sys.executable
        self._start([python, "-m", "scaler.object_storage", object_storage_address, logging_level], server_environment)
        settings = SchedulerSettings(
            object_storage_address=object_storage_address,
            client_timeout_seconds=client_timeout_seconds,
            worker_timeout_seconds=worker_timeout_seconds,
            load_balance_seconds=load_balance_seconds,
            load_balance_trigger_times=load_balance_trigger_times,
            protected=protected,
            max_number_of_tasks_waiting=max_number_of_tasks_waiting,
            object_retention_seconds=object_retention_seconds,
        )
        scheduler_options = SchedulerOptions(
            address=self._address,
            object_storage_address=object_storage_address,
            monitor_address=monitor_address,
            settings=settings,
            policy_engine_type=policy_engine_type,
            policy_content=policy_content,
        )
        self._start(
            [python, "-m", "scaler.scheduler", msgspec.json.encode(scheduler_options).decode(), logging_level],
            server_environment,
        )
        options = WorkerOptions(
            scheduler_address=self._address,
            object_storage_address=object_storage_address,
            capabilities=dict(per_worker_capabilities or {}),
            task_queue_size=per_worker_task_queue_size,
            heartbeat_interval_seconds=heartbeat_interval_seconds,
            task_timeout_seconds=task_timeout_seconds,
            death_timeout_seconds=death_timeout_seconds,
            garbage_collect_interval_seconds=garbage_collect_interval_seconds,
            trim_memory_threshold_bytes=trim_memory_threshold_bytes,
            hard_processor_suspend=hard_processor_suspend,
            preload=preload,
            manager_id=worker_manager_id,
            worker_id_prefix="FIX",
            logging_level=logging_level,
        )
        for _ in range(n_workers):
            self._start([python, "-m", "scaler.worker.agent", options.to_json()], worker_environment)
        # Accepted for interface compatibility (libraries such as parfun pass them): the combo's processes log
        # at ``logging_level`` to their standard streams.
        del logging_paths, logging_config_file

    def _start(self, command: list[str], environment: dict[str, str]) -> None:
        # Children die with this process even if it never calls shutdown() (a crash, a kill -9).
        env = {**child_environment(), **environment}
        if not environment:
            env.pop(ENVIRONMENT_VARIABLE, None)
        self._processes.append(subprocess.Popen(command, stdin=subprocess.DEVNULL, env=env))

    @property
    def owner_credentials(self) -> PeerCredentials | None:
        """The credentials this process's clients use (None when ``secure=False``): pass them to a client in
        another process of yours, e.g. ``Client(address, credentials=combo.owner_credentials)``."""
        return self._keys.owner if self._keys else None

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
        register_local_cluster(self._own_addresses, None)
        if self._own_environment is not None and os.environ.get(ENVIRONMENT_VARIABLE) == self._own_environment:
            if self._previous_environment is None:
                os.environ.pop(ENVIRONMENT_VARIABLE, None)
            else:
                os.environ[ENVIRONMENT_VARIABLE] = self._previous_environment
            self._own_environment = None
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


def _cluster_keys(credentials: str | os.PathLike[str] | ServerCredentials | None, loopback: bool) -> ClusterKeys:
    loaded = resolve(credentials)
    if loaded is not None and not isinstance(loaded, ServerCredentials):
        raise ValueError("SchedulerClusterCombo(credentials=...) takes a scheduler's credentials (scaler_keys init)")
    return cluster_keys(loaded, loopback)
