"""``scaler_worker_manager baremetal_native``: workers as local processes, dynamic or fixed."""

from __future__ import annotations

import os
import socket
from typing import Any

from scaler.worker.agent.options import WorkerOptions
from scaler.worker_manager_adapter.baremetal_native.provisioner import NativeProvisioner
from scaler.worker_manager_adapter.runner import run_manager


def worker_options_from_config(config: Any, manager_id: str, prefix: str) -> WorkerOptions:
    """The WorkerOptions of the workers a manager starts, from the common worker fields of its config."""
    return WorkerOptions(
        scheduler_address=str(config.effective_worker_scheduler_address),
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
        logging_level=config.logging_level,
        event_loop=config.event_loop,
    )


def run_baremetal_native(config: Any) -> None:
    fixed = config.mode == "fixed"
    prefix = config.worker_type or ("FIX" if fixed else "NAT")
    manager_id = config.worker_manager_id or f"{prefix}|{socket.gethostname()}|{os.getpid()}"
    provisioner = NativeProvisioner(worker_options_from_config(config, manager_id, prefix))
    raise SystemExit(
        run_manager(config, manager_id, provisioner, fixed_units=config.max_task_concurrency if fixed else None)
    )
