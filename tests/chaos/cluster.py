"""Real processes for chaos tests: a scheduler, single workers started and killed one by one, and tasks that
record every execution, so a test can count what ran how many times."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cloudpickle

from scaler.worker.agent.options import WorkerOptions
from tests.cli.helpers import BIN, free_port_block, stop


def recorded(directory: str, index: int, seconds: float) -> int:
    """A task that leaves one file per execution (the processors share this machine's file system)."""
    Path(directory, f"{index}.{uuid.uuid4().hex}").touch()
    time.sleep(seconds)
    return index * index


cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/: ship tasks by value


def executions(directory: Path) -> Counter[int]:
    return Counter(int(name.split(".", 1)[0]) for name in os.listdir(directory))


def count_outcomes(futures: list[Any], outcomes: Counter[int] | None = None, start: int = 0) -> Counter[int]:
    """How many outcomes each future delivered (by index, from ``start``), counted as they come: exactly one each
    when nothing is lost or delivered twice. Pass ``outcomes`` to count more futures into the same counter."""
    outcomes = Counter() if outcomes is None else outcomes
    lock = threading.Lock()

    def count(index: int) -> None:
        with lock:
            outcomes[index] += 1

    for index, future in enumerate(futures, start=start):
        future.add_done_callback(lambda _, index=index: count(index))
    return outcomes


class Cluster:
    """A scheduler process and the worker processes a test starts; every one is stopped at the end, by PID."""

    def __init__(self, host: str = "127.0.0.1", scheduler_flags: tuple[str, ...] = ()) -> None:
        self.host = host
        self.port = free_port_block()
        self.address = f"tcp://{host}:{self.port}"
        self.scheduler_flags = scheduler_flags
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def start_scheduler(self) -> subprocess.Popen[bytes]:
        command = [str(BIN / "scaler_scheduler"), *self.scheduler_flags, "-ll", "WARNING", self.address]
        self.scheduler = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        return self.scheduler

    def worker_command(self, **options: object) -> list[str]:
        settings = {"logging_level": "WARNING", "task_queue_size": 1000, "worker_id_prefix": "CHAOS", **options}
        worker = WorkerOptions(scheduler_address=self.address, **settings)  # type: ignore[arg-type]
        return [sys.executable, "-m", "scaler.worker.agent", worker.to_json()]

    def start_worker(self, **options: object) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(self.worker_command(**options), stdin=subprocess.DEVNULL)
        self.workers.append(process)
        return process

    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [worker for worker in self.workers if worker.poll() is None]

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait()
        if self.scheduler is not None:
            stop(self.scheduler)  # type: ignore[arg-type]


@contextmanager
def cluster(host: str = "127.0.0.1", scheduler_flags: tuple[str, ...] = ()) -> Iterator[Cluster]:
    running = Cluster(host, scheduler_flags)
    try:
        yield running
    finally:
        running.stop()


def kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.kill(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
