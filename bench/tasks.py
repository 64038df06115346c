"""Functions that the benchmark sends to remote workers.

They live in an importable module (``bench.tasks``) so that every system pickles them by reference; the harness puts
the repository root on ``PYTHONPATH`` for every process it starts, so workers of every system can import them.
"""

from __future__ import annotations

import time
from typing import Any


def noop(x: Any) -> Any:
    return x


def nbytes(x: Any) -> int:
    """Size of a bytes object or numpy array: touches the argument without copying it."""
    size = getattr(x, "nbytes", None)
    return int(size) if size is not None else len(x)


def burn(cpu_seconds: float) -> tuple[float, float]:
    """Busy loop until this thread has used ``cpu_seconds`` of CPU; no sleep. Returns (CPU s, wall s) it took.

    The loop times itself with the worker's own CPU clock rather than running a count of iterations calibrated in
    the driver: on a shared machine the speed of an iteration varies by 2x from minute to minute, and a count would
    make the task anywhere from 10 to 40 ms. ``time.thread_time`` rather than ``time.process_time``: a worker's other
    threads (heartbeats, I/O) must not count as this task's work.
    """
    wall0 = time.perf_counter()
    cpu0 = time.thread_time()
    total = 0
    while True:
        for i in range(200):
            total += i
        used = time.thread_time() - cpu0
        if used >= cpu_seconds:
            return used, time.perf_counter() - wall0
