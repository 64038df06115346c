"""Everything a worker agent is started with (passed to ``python -m scaler.worker.agent`` as JSON)."""

from __future__ import annotations

import msgspec


class WorkerOptions(msgspec.Struct, frozen=True, kw_only=True):
    scheduler_address: str
    object_storage_address: str | None = None  # None: use the one the scheduler advertises
    capabilities: dict[str, int] = {}
    task_queue_size: int = 1000
    heartbeat_interval_seconds: float = 2.0
    task_timeout_seconds: float = 0.0  # 0: no limit
    death_timeout_seconds: float = 300.0
    garbage_collect_interval_seconds: float = 30.0
    trim_memory_threshold_bytes: int = 1 << 30
    hard_processor_suspend: bool = False
    preload: str | None = None
    manager_id: str = ""
    worker_id_prefix: str = "FIX"
    worker_id: str = ""  # fixed id (the manager picks it so it can report this worker's death); else random
    logging_level: str = "INFO"
    # Where a manager started this worker with -lp/-lcf, it logs there too; by default to stderr.
    logging_paths: tuple[str, ...] = ("/dev/stderr",)
    logging_config_file: str | None = None  # the manager's -lcf
    event_loop: str = "builtin"
    io_threads: int = 1

    def to_json(self) -> str:
        return msgspec.json.encode(self).decode()

    @staticmethod
    def from_json(text: str) -> WorkerOptions:
        return msgspec.json.decode(text, type=WorkerOptions)
