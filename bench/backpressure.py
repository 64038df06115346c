"""Memory per pending task, in the client and in the scheduler, and what a departed client leaves behind.

    .venv/bin/python bench/backpressure.py                      # 1,000,000 tasks, no workers: all stay pending
    .venv/bin/python bench/backpressure.py --tasks 200000
    .venv/bin/python bench/backpressure.py --tasks 200000 --workers 2 --queue-limit 10000   # back-pressure at work

Starts object storage and a scheduler (and ``--workers`` workers) as separate processes on loopback, then,
in this process, one client submits ``--tasks`` tiny tasks with ``client.submit`` in a loop, keeping every
future, without waiting for any result. With no workers every task stays pending, so the growth of each
process's RSS divided by the number of tasks is the memory one pending task costs there; for that run the
scheduler's per-client window is set to at least ``--tasks`` (by default a client may only have 100,000
unfinished tasks; its submits would block there). With workers and a queue limit, submits block whenever the
scheduler is full, and the peaks show that memory stays bounded while every result still arrives.

Then the client disconnects and the scheduler's RSS is sampled until it settles: a departed client's
memory must be returned. Prints one line per figure; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.tasks import noop  # noqa: E402  (the repository root must be importable first)
from scaler import Client  # noqa: E402
from scaler.io.address import free_tcp_port  # noqa: E402
from scaler.io.lifetime import child_environment  # noqa: E402
from scaler.io.memory import TRIM_INTERVAL_SECONDS as TRIM_SECONDS  # noqa: E402
from scaler.monitor.subscriber import StatusSubscriber  # noqa: E402
from scaler.scheduler.core import SchedulerSettings  # noqa: E402
from scaler.scheduler.flow_control import DEFAULT_CLIENT_WINDOW  # noqa: E402
from scaler.scheduler.server import SchedulerOptions  # noqa: E402
from scaler.scheduler.storage_child import stop_process  # noqa: E402
from scaler.worker.agent.options import WorkerOptions  # noqa: E402

MB = 1 << 20


class PeakSampler(threading.Thread):
    """Samples a process's RSS every ``interval`` seconds and keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop_event = threading.Event()
        self.peak = self.rss()

    def rss(self) -> int:
        return int(self._process.memory_info().rss)

    def run(self) -> None:
        while not self._stop_event.wait(self._interval):
            try:
                self.peak = max(self.peak, self.rss())
            except psutil.Error:
                return

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


def start(command: list[str]) -> subprocess.Popen[bytes]:
    env = child_environment()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, env=env)


def settled_rss(sampler: PeakSampler, seconds: float = 3.0, timeout: float = 120.0) -> int:
    """The RSS once it has not moved by more than 1 MB for ``seconds``."""
    deadline = time.monotonic() + timeout
    last, since = sampler.rss(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = sampler.rss()
        if abs(now - last) > MB:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return now
    return sampler.rss()


def wait_for_live_tasks(subscriber: StatusSubscriber, count: int, timeout: float) -> int:
    """Wait until the scheduler reports ``count`` live tasks; the largest number seen."""
    deadline, seen = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        status = subscriber.receive(5.0)
        if status is not None:
            seen = max(seen, sum(status.tasks_by_state.values()))
            if seen >= count:
                break
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=0, help="0: every task stays pending (the default)")
    parser.add_argument("--queue-limit", type=int, default=-1, help="the scheduler's max_number_of_tasks_waiting")
    parser.add_argument("--window", type=int, default=0, help="per-client window (default: max(tasks, 100,000) "
                        "with no workers, else the scheduler's default)")  # fmt: skip
    args = parser.parse_args()
    window = args.window or (max(args.tasks, DEFAULT_CLIENT_WINDOW) if args.workers == 0 else DEFAULT_CLIENT_WINDOW)

    host = "127.0.0.1"
    address, storage = f"tcp://{host}:{free_tcp_port()}", f"tcp://{host}:{free_tcp_port()}"
    monitor = f"tcp://{host}:{free_tcp_port()}"
    settings = SchedulerSettings(
        object_storage_address=storage, max_number_of_tasks_waiting=args.queue_limit, client_window=window
    )
    options = SchedulerOptions(address=address, object_storage_address=storage, monitor_address=monitor,
                               settings=settings)  # fmt: skip
    python = sys.executable
    processes = [start([python, "-m", "scaler.object_storage", storage, "WARNING"])]
    processes.append(start([python, "-m", "scaler.scheduler", msgspec.json.encode(options).decode(), "WARNING"]))
    worker = WorkerOptions(scheduler_address=address, object_storage_address=storage, logging_level="WARNING")
    processes += [start([python, "-m", "scaler.worker.agent", worker.to_json()]) for _ in range(args.workers)]
    scheduler = PeakSampler(processes[1].pid)
    me = PeakSampler(os.getpid())
    subscriber = StatusSubscriber(monitor)
    report: dict[str, Any] = {"tasks": args.tasks, "workers": args.workers, "queue_limit": args.queue_limit,
                              "client_window": window}  # fmt: skip
    try:
        client = Client(address=address, timeout_seconds=120)
        scheduler_before = settled_rss(scheduler, seconds=1.0)
        client_before = me.rss()
        scheduler.start()
        me.start()
        started = time.monotonic()
        futures = [client.submit(noop, n) for n in range(args.tasks)]
        report["submit_seconds"] = round(time.monotonic() - started, 1)
        if args.workers == 0:
            report["scheduler_live_tasks_seen"] = wait_for_live_tasks(subscriber, args.tasks, timeout=600)
            # Stable past the scheduler's periodic heap trim: what the tasks hold, not what the burst left behind.
            scheduler_settled, client_settled = settled_rss(scheduler, seconds=TRIM_SECONDS + 2), me.rss()
        else:
            wrong = sum(1 for n, future in enumerate(futures) if future.result() != n)
            report["wrong_results"] = wrong
            report["all_seconds"] = round(time.monotonic() - started, 1)
        client_peak, scheduler_peak = me.stop(), scheduler.stop()
        pending = args.tasks if args.workers == 0 else min(args.tasks, window)
        report["client_rss_before_mb"] = round(client_before / MB, 1)
        report["client_rss_peak_mb"] = round(client_peak / MB, 1)
        report["scheduler_rss_before_mb"] = round(scheduler_before / MB, 1)
        report["scheduler_rss_peak_mb"] = round(scheduler_peak / MB, 1)
        if args.workers == 0:  # peak: with the messages still in flight; settled: every task received and held
            report["client_rss_settled_mb"] = round(client_settled / MB, 1)
            report["scheduler_rss_settled_mb"] = round(scheduler_settled / MB, 1)
            report["client_bytes_per_pending_task_peak"] = round((client_peak - client_before) / pending)
            report["client_bytes_per_pending_task_settled"] = round((client_settled - client_before) / pending)
            report["scheduler_bytes_per_pending_task_peak"] = round((scheduler_peak - scheduler_before) / pending)
            report["scheduler_bytes_per_pending_task_settled"] = round((scheduler_settled - scheduler_before) / pending)
        del futures
        client.disconnect()
        report["scheduler_rss_after_client_left_mb"] = round(settled_rss(scheduler, TRIM_SECONDS + 2) / MB, 1)
    finally:
        subscriber.close()
        for process in reversed(processes):
            stop_process(process)
    for key, value in report.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
