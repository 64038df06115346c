"""The command a cloud unit (a Fargate task, an EC2 instance) runs: a fixed pool of workers that connect back."""

from __future__ import annotations

import shlex
from typing import Any

from scaler.config.checks import format_capabilities


def fixed_workers_command(config: Any, workers: int, worker_type: str) -> str:
    """``scaler_worker_manager baremetal_native ... --mode fixed`` with the worker options of ``config``
    (a ``WorkerManagerConfig``), as one shell-quoted line."""
    arguments = [
        "scaler_worker_manager", "baremetal_native", str(config.effective_worker_scheduler_address),
        "--mode", "fixed", "--max-task-concurrency", str(workers), "--worker-type", worker_type,
        "--per-worker-task-queue-size", str(config.per_worker_task_queue_size),
        "--heartbeat-interval-seconds", str(config.heartbeat_interval_seconds),
        "--task-timeout-seconds", str(config.task_timeout_seconds),
        "--death-timeout-seconds", str(config.death_timeout_seconds),
        "--garbage-collect-interval-seconds", str(config.garbage_collect_interval_seconds),
        "--trim-memory-threshold-bytes", str(config.trim_memory_threshold_bytes),
        "--io-threads", str(config.io_threads),
        "--event-loop", config.event_loop,
        "--logging-level", config.logging_level,
    ]  # fmt: skip
    if config.per_worker_capabilities:
        arguments += ["--per-worker-capabilities", format_capabilities(config.per_worker_capabilities)]
    if config.object_storage_address:
        arguments += ["--object-storage-address", str(config.object_storage_address)]
    if config.preload:
        arguments += ["--preload", config.preload]
    if config.hard_processor_suspend:
        arguments.append("--hard-processor-suspend")
    return shlex.join(arguments)
