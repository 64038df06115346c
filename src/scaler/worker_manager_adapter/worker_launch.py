"""How a manager hands its worker options on: one place for each form they take.

- ``worker_options``: the ``WorkerOptions`` of a worker process started on this machine (baremetal_native, and
  ``SchedulerClusterCombo``'s pool);
- ``unit_worker_command``: the command a cloud unit (a Fargate task, an EC2 instance, a container instance) runs,
  a fixed pool of workers that report the manager's id, generated from the option specs so that a new worker
  option is passed on without touching any adapter;
- ``default_manager_id``: the id of a manager started without ``--worker-manager-id``.
"""

from __future__ import annotations

import os
import shlex
import socket

from scaler.config.options import field_specs
from scaler.config.sections.logging_options import LoggingConfig
from scaler.config.sections.worker import WorkerConfig
from scaler.config.sections.worker_manager import WorkerManagerConfig
from scaler.worker.agent.options import WorkerOptions

# Given explicitly by unit_worker_command, or meaningless on another machine (the manager's own log files).
_NOT_PASSED_ON = frozenset(
    {"worker_scheduler_address", "object_storage_address", "logging_paths", "logging_config_file"}
)


def default_manager_id(prefix: str) -> str:
    """``PREFIX|host|pid``: unique per scheduler as long as one host does not reuse a pid while it runs."""
    return f"{prefix}|{socket.gethostname()}|{os.getpid()}"


def manager_id_of(config: WorkerManagerConfig, prefix: str) -> str:
    """The manager's id: ``--worker-manager-id`` when given, else ``default_manager_id(prefix)``."""
    return config.worker_manager_id or default_manager_id(prefix)


def worker_options(
    config: WorkerConfig, logging: LoggingConfig, *, scheduler_address: str, manager_id: str, prefix: str
) -> WorkerOptions:
    """The options of a local worker process, from a section's worker and logging fields (workers log where
    and how their manager does)."""
    return WorkerOptions(
        scheduler_address=scheduler_address,
        object_storage_address=str(config.object_storage_address) if config.object_storage_address else None,
        capabilities=dict(config.per_worker_capabilities),
        task_queue_size=config.per_worker_task_queue_size,
        heartbeat_interval_seconds=config.heartbeat_interval_seconds,
        task_timeout_seconds=config.task_timeout_seconds,
        death_timeout_seconds=config.death_timeout_seconds,
        garbage_collect_interval_seconds=config.garbage_collect_interval_seconds,
        trim_memory_threshold_bytes=config.trim_memory_threshold_bytes,
        hard_processor_suspend=config.hard_processor_suspend,
        preload=config.preload,
        manager_id=manager_id,
        worker_id_prefix=prefix,
        logging_level=logging.logging_level,
        logging_paths=tuple(logging.logging_paths),
        logging_config_file=logging.logging_config_file,
        event_loop=config.event_loop,
        io_threads=config.io_threads,
    )


def unit_worker_command(config: WorkerManagerConfig, manager_id: str, workers: int, worker_type: str) -> str:
    """``scaler_worker_manager baremetal_native ... --mode fixed`` for one unit, as one shell-quoted line.

    The workers report ``manager_id``, so that the scheduler counts them as this manager's when it scales it;
    ``worker_type`` prefixes their ids (make it unique per unit where several units share a manager). Every
    worker and logging option that differs from its default is passed on.
    """
    arguments = [
        "scaler_worker_manager", "baremetal_native", str(config.effective_worker_scheduler_address),
        "--mode", "fixed", "--max-task-concurrency", str(workers),
        "--worker-manager-id", manager_id, "--worker-type", worker_type,
    ]  # fmt: skip
    if config.object_storage_address is not None:
        arguments += ["--object-storage-address", str(config.object_storage_address)]
    arguments += changed_worker_flags(config)
    return shlex.join(arguments)


def changed_worker_flags(config: WorkerManagerConfig) -> list[str]:
    """The worker and logging options of ``config`` that differ from their defaults, as command-line flags."""
    flags: list[str] = []
    for spec in (*field_specs(WorkerConfig), *field_specs(LoggingConfig)):
        value = getattr(config, spec.name)
        if spec.name in _NOT_PASSED_ON or value == spec.default_value():
            continue
        if isinstance(value, bool):
            flags.append(spec.long_flag if value else f"--no-{spec.long_flag[2:]}")
        elif spec.name == "per_worker_capabilities":
            flags += [spec.long_flag, config.capabilities_text]
        elif isinstance(value, tuple):
            flags += [spec.long_flag, *map(str, value)]
        else:
            flags += [spec.long_flag, str(value)]
    return flags
