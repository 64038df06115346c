"""Scale rows: a 100,000-task map (throughput, peak memory of the client and of the scheduler) and many workers on
few cores (throughput, scheduler CPU per task).

Memory and CPU are read from ``/proc`` (Linux): ``VmHWM`` (peak resident set) in ``/proc/<pid>/status`` and
``utime + stime`` in ``/proc/<pid>/stat``. The peak is reset first (``/proc/<pid>/clear_refs``, "5") so that it is
the peak of this measurement, not of the process's life so far; where the reset is refused the row says so. Which
processes are "the scheduler" is each backend's answer (``Backend.scheduler_pids``): an empty list (Dask's
scheduler runs inside the client process, ProcessPoolExecutor has none) prints "-".
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from bench import tasks

if TYPE_CHECKING:
    from bench.core import Backend, Recorder, Settings

MB = 1 << 20
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def peak_rss_bytes(pid: int) -> int | None:
    """``VmHWM`` of ``pid``: the most resident memory it has had since it started or since ``reset_peak``."""
    return _status_field(pid, "VmHWM:")


def rss_bytes(pid: int) -> int | None:
    return _status_field(pid, "VmRSS:")


def reset_peak(pid: int) -> bool:
    """Make ``VmHWM`` start again from the current resident size; False where the kernel refuses."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as file:
            file.write("5")
        return True
    except OSError:
        return False


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` (all its threads) so far."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            text = file.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces: skip past its ")"
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime (fields 14 and 15 of stat)


def _status_field(pid: int, name: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith(name):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _sum(values: list[Any]) -> Any:
    return None if not values or any(v is None for v in values) else sum(values)


def measure_big_map(backend: Backend, settings: Settings, rec: Recorder) -> None:
    """``map(noop, range(scale_map_tasks))`` once: tasks/s, and the peak RSS of the client and of the scheduler.

    Skipped (the reason recorded) when the system's 10k-map rate says it would take longer than
    ``scale_budget_s``: a slow peer would otherwise spend the whole run on it.
    """
    n = settings.scale_map_tasks
    rate = rec.results.get("map_tasks_per_s")
    if isinstance(rate, (int, float)) and rate > 0 and n / rate > settings.scale_budget_s:
        rec.value("scale_map_skipped", f"would take ~{n / rate:.0f}s at {rate:.0f} tasks/s")
        for key in ("tasks_per_s", "client_peak_mb", "scheduler_peak_mb", "client_bytes_per_task",
                    "scheduler_bytes_per_task"):  # fmt: skip
            rec.value(f"scale_map_{key}", None)
        return
    client_pid, scheduler_pids = os.getpid(), backend.scheduler_pids()
    pids = [client_pid, *scheduler_pids]
    before = {pid: rss_bytes(pid) for pid in pids}
    reset = all(reset_peak(pid) for pid in pids)
    xs = list(range(n))
    t0 = time.perf_counter()
    results = backend.map(tasks.noop, xs)
    elapsed = time.perf_counter() - t0
    if len(results) != n or results[-1] != n - 1:
        raise RuntimeError(f"map returned wrong results ({len(results)} items)")
    del results, xs
    rec.value("scale_map_tasks_per_s", n / elapsed)
    client_peak = peak_rss_bytes(client_pid)
    scheduler_peak = _sum([peak_rss_bytes(pid) for pid in scheduler_pids])
    rec.value("scale_map_client_peak_mb", client_peak / MB if client_peak is not None else None)
    rec.value("scale_map_scheduler_peak_mb", scheduler_peak / MB if scheduler_peak is not None else None)
    # The growth over the resting size, per task: what one pending task costs each side.
    for key, pid_list, peak in (("client", [client_pid], client_peak), ("scheduler", scheduler_pids, scheduler_peak)):
        rest = _sum([before[pid] for pid in pid_list])
        per_task = (peak - rest) / n if peak is not None and rest is not None and reset else None
        rec.value(f"scale_map_{key}_bytes_per_task", per_task)


def measure_many_workers(backend: Backend, settings: Settings, rec: Recorder) -> None:
    """A cluster of ``scale_workers`` workers on this machine's cores: map throughput, scheduler CPU per task.

    Its own cluster life (started and stopped here). Before measuring, every worker is given time to start: small
    maps run until three in a row are no faster than the best so far (at most 40), so start-up does not count as
    throughput.
    """
    n_workers, n = settings.scale_workers, settings.map_tasks
    backend.start(n_workers)
    try:
        warm, best, flat = 4 * n_workers, 0.0, 0
        for _ in range(40):
            t0 = time.perf_counter()
            backend.map(tasks.noop, list(range(warm)))
            rate = warm / (time.perf_counter() - t0)
            flat = flat + 1 if rate < 1.1 * best else 0
            best = max(best, rate)
            if flat >= 3:
                break
        scheduler_pids = backend.scheduler_pids()
        cpu0 = _sum([cpu_seconds(pid) for pid in scheduler_pids])
        xs = list(range(n))
        t0 = time.perf_counter()
        results = backend.map(tasks.noop, xs)
        elapsed = time.perf_counter() - t0
        cpu1 = _sum([cpu_seconds(pid) for pid in scheduler_pids])
        if len(results) != n or results[-1] != n - 1:
            raise RuntimeError(f"map returned wrong results ({len(results)} items)")
        rec.value("scale_workers_tasks_per_s", n / elapsed)
        per_task = (cpu1 - cpu0) / n * 1e6 if cpu0 is not None and cpu1 is not None else None
        rec.value("scale_workers_scheduler_cpu_us_per_task", per_task)
    finally:
        backend.shutdown()
