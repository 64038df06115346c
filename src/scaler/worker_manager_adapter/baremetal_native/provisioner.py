"""Local worker processes as units: one unit = one worker agent process (which runs its own processor)."""

from __future__ import annotations

import logging
import subprocess
import sys

from scaler.io.lifetime import child_environment
from scaler.scheduler.storage_child import stop_process
from scaler.worker.agent.options import WorkerOptions
from scaler.worker_manager_adapter.provisioner import UnitExit

logger = logging.getLogger("scaler.worker_manager")


class NativeProvisioner:
    workers_per_unit = 1

    def __init__(self, options: WorkerOptions) -> None:
        self._options = options
        self._workers: dict[bytes, subprocess.Popen[bytes]] = {}
        self._serial = 0

    def start_units(self, count: int) -> None:
        for _ in range(count):
            self._serial += 1
            worker_id = f"Worker|{self._options.worker_id_prefix}|{self._options.manager_id}|{self._serial}"
            options = _with_worker_id(self._options, worker_id)
            command = [sys.executable, "-m", "scaler.worker.agent", options.to_json()]
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, env=child_environment())
            self._workers[worker_id.encode()] = process

    def stop_units(self, count: int) -> None:
        # Newest first: the oldest workers have the warmest caches.
        for worker_id in list(self._workers)[-count:]:
            stop_process(self._workers.pop(worker_id))

    def live_units(self) -> int:
        return len(self._workers)

    def collect_exits(self) -> list[UnitExit]:
        exits = []
        for worker_id, process in list(self._workers.items()):
            code = process.poll()
            if code is not None:
                del self._workers[worker_id]
                exits.append(UnitExit([worker_id], code, f"worker {worker_id.decode()} exited with code {code}"))
        return exits

    def terminate(self) -> None:
        for process in self._workers.values():
            if process.poll() is None:
                process.terminate()
        for process in self._workers.values():
            stop_process(process)
        self._workers.clear()


def _with_worker_id(options: WorkerOptions, worker_id: str) -> WorkerOptions:
    import msgspec

    return msgspec.structs.replace(options, worker_id=worker_id)
