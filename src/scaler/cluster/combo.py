"""SchedulerClusterCombo: a scheduler, an object storage server and a fixed pool of workers, in one call.

All processes start at once (object storage, scheduler and every worker in parallel: workers simply
connect and wait). Where it is safe they are forks of this process, which has already imported what they run
(see ``children.py``), so start-up is mostly the workers' processors starting.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, cast

import msgspec

from scaler.cluster.children import ChildStarter
from scaler.config.sections.logging_options import LoggingConfig
from scaler.config.sections.scheduler import DEFAULT_POLICY_CONTENT, SchedulerConfig
from scaler.config.sections.worker import WorkerConfig
from scaler.io.address import Address, free_tcp_port
from scaler.io.lifetime import ChildProcess
from scaler.scheduler.server import scheduler_options_from_config
from scaler.scheduler.storage_child import stop_process
from scaler.security.credentials import PeerCredentials, ServerCredentials, resolve
from scaler.security.ephemeral import ClusterKeys, cluster_keys
from scaler.security.exposure import is_loopback
from scaler.security.local import register_local_cluster
from scaler.security.runtime import publish, withdraw
from scaler.worker_manager_adapter.worker_launch import worker_options

logger = logging.getLogger("scaler.cluster")


class SchedulerClusterCombo:
    """A whole local cluster in one call: an object storage server, a scheduler and ``n_workers`` workers.

    Each is a process of its own, started at once; connect a ``Client`` to ``get_address()``. The processes
    stop with ``shutdown()``, at the end of a ``with`` block, or when this Python process exits.

    Args:
        address: the scheduler's address; by default ``tcp://127.0.0.1:`` and a free port.
        n_workers: how many workers (each runs one task at a time); by default one fewer than the CPUs.
        object_storage_address: where to start object storage; by default a free port on the same host.
        monitor_address: where the scheduler publishes status for ``scaler_top``/``scaler_gui``; by default
            the scheduler's port + 2.
        per_worker_capabilities: what every worker offers, e.g. ``{"gpu": 1}`` (see
            ``Client.submit_verbose``).
        per_worker_task_queue_size: how many tasks the scheduler may queue on each worker.
        heartbeat_interval_seconds: how often workers report to the scheduler.
        client_timeout_seconds: a client silent this long is dropped and its tasks cancelled.
        worker_timeout_seconds: a worker silent this long is removed and its tasks re-queued.
        object_retention_seconds: how long a dropped client's objects are kept, in case it comes back.
        task_timeout_seconds: a task running longer is killed (``TaskTimeoutError``); 0: no limit.
        death_timeout_seconds: a worker that cannot reach the scheduler this long exits.
        load_balance_seconds: interval between rounds moving queued tasks from busy to idle workers.
        load_balance_trigger_times: identical balancing advices in a row before tasks are moved.
        garbage_collect_interval_seconds: how often a worker's processor runs the garbage collector.
        trim_memory_threshold_bytes: above this memory use, a processor returns free memory to the system.
        hard_processor_suspend: suspend processors with SIGSTOP (rather than cooperatively) when balancing.
        protected: refuse ``Client.shutdown()`` (the cluster is stopped by ``shutdown()`` here instead).
        max_number_of_tasks_waiting: most tasks queued while every worker is busy; -1: no limit.
        policy_engine_type: the scheduler's policy engine (``simple`` or ``waterfall_v1``).
        policy_content: the policy, e.g. ``"allocate=even_load; scaling=no"``.
        worker_manager_id: the manager name its workers are listed under in the monitors.
        preload: ``module:function(args)`` run in each worker's processor before any task.
        logging_level: the processes' logging level.
        logging_paths: accepted for compatibility; the processes log to their standard streams.
        logging_config_file: accepted for compatibility, ignored likewise.
        credentials: a scheduler's credentials file (``scaler_keys init``) whose authorized peers may connect
            too; by default fresh keys that only this user's processes can find (in its private runtime
            directory, by address), so that other local users cannot submit to the cluster.
        secure: ``False`` turns authentication and encryption off: anyone who can reach the ports may then
            run code on the workers.
    """

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
        credentials: str | os.PathLike[str] | ServerCredentials | None = None,
        secure: bool = True,
    ) -> None:
        """Start object storage, the scheduler and the workers, without waiting (parameters: see the class)."""
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
        self._monitor_address = monitor_address or str(scheduler.with_port_offset(2))  # as the scheduler decides
        self._n_workers = n_workers
        self._processes: list[ChildProcess] = []
        self._starter = ChildStarter()
        logger.debug("starting the cluster's processes %s", self._starter.how)
        self._keys = _cluster_keys(credentials, is_loopback(scheduler)) if secure else None
        server_environment = self._keys.environment_for_server() if self._keys else {}
        worker_environment = self._keys.environment_for_workers() if self._keys else {}
        # Client(address) and other tools in this process connect to the cluster as its owner.
        self._own_addresses = [self._address, object_storage_address, self._monitor_address]
        register_local_cluster(self._own_addresses, self._keys.owner if self._keys else None)
        # This user's other processes (scaler_top, a script in another terminal) find the owner's credentials by
        # address in the user's 0700 runtime directory, as for `scaler CONFIG.toml`; removed at shutdown. Not an
        # environment variable of this process: that would apply to every cluster this process talks to.
        self._published = publish(self._own_addresses, self._keys.owner) if self._keys else []
        self._start("scaler.object_storage", [object_storage_address, logging_level], server_environment)
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
        self._start(
            "scaler.scheduler", [msgspec.json.encode(scheduler_options).decode(), logging_level], server_environment
        )
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
            self._start("scaler.worker.agent", [options.to_json()], worker_environment)
        # Accepted for interface compatibility (libraries such as parfun pass them): the combo's processes log
        # at ``logging_level`` to their standard streams.
        del logging_paths, logging_config_file

    def _start(self, module: str, argv: list[str], environment: dict[str, str]) -> None:
        # Children die with this process even if it never calls shutdown() (a crash, a kill -9).
        self._processes.append(self._starter.start(module, argv, environment))

    @property
    def owner_credentials(self) -> PeerCredentials | None:
        """The credentials this process's clients use (None when ``secure=False``): pass them to a client in
        another process of yours, e.g. ``Client(address, credentials=combo.owner_credentials)``."""
        return self._keys.owner if self._keys else None

    def get_address(self) -> str:
        """The scheduler's address, to give to ``Client(address=...)``."""
        return self._address

    @property
    def object_storage_address(self) -> str:
        """The object storage server's address."""
        return self._object_storage_address

    @property
    def scheduler_pid(self) -> int | None:
        """The process id of the scheduler (None once shut down)."""
        return self._processes[1].pid if len(self._processes) > 1 else None

    @property
    def worker_pids(self) -> list[int]:
        """The process ids of the worker agents (each runs its tasks in a child processor process)."""
        return [process.pid for process in self._processes[2:]]

    def shutdown(self) -> None:
        """Stop the workers, then the scheduler, then object storage."""
        processes, self._processes = self._processes, []
        register_local_cluster(self._own_addresses, None)
        withdraw(self._published)
        self._published = []
        started = time.monotonic()
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in reversed(processes):
            stop_process(process, grace_seconds=max(0.5, 5.0 - (time.monotonic() - started)))

    def _repr_html_(self) -> str:
        """The notebook view: addresses, workers, tasks by state (from the monitor stream), how to watch live."""
        from scaler.client.notebook import cluster_html, latest_status

        running = bool(self._processes) and self._processes[1].poll() is None
        rows = [
            ("scheduler", self._address),
            ("object storage", self._object_storage_address),
            ("state", f"running, {self._n_workers} worker process(es) started" if running else "shut down"),
        ]
        status = latest_status(self._monitor_address) if running else None
        return cluster_html("Scaler SchedulerClusterCombo", rows, self._monitor_address, status)

    def __enter__(self) -> SchedulerClusterCombo:
        """The cluster itself; it shuts down when the block ends."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Shut the cluster down."""
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
