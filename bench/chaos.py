"""Faults injected into a running local cluster, at full size; prints one markdown table.

    .venv/bin/python bench/chaos.py            # full size (10,000 tasks per scenario)
    .venv/bin/python bench/chaos.py --quick    # CI size (2,000)

Scenarios: the scheduler SIGKILLed mid-map and restarted on the same address; a 5 s partition between a worker
and the scheduler; a partition past ``worker_timeout_seconds`` (the cut-off worker's tasks run again elsewhere).
For each: tasks, faults injected, outcomes lost (a future that never finished or got a wrong result), outcomes
duplicated (a future finished more than once), executions beyond one per task, and wall time. Nothing here
asserts: the tests in tests/chaos/ do, at CI size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chaos.tcp_proxy import TcpProxy  # noqa: E402
from tests.cli.helpers import BIN, free_port_block, stop, wait_for_port  # noqa: E402

from scaler import Client  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def recorded_square(x: int, directory: str) -> int:
    Path(directory, f"{x}-{uuid.uuid4().hex}").touch()
    time.sleep(0.002)
    return x * x


def start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(BIN / args[0]), *args[1:]], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=ENV)  # fmt: skip


def workers(address: str, count: int, prefix: str) -> subprocess.Popen[bytes]:
    return start("scaler_worker_manager", "baremetal_native", address, "--mode", "fixed", "-n", str(count),
                 "--worker-type", prefix, "--heartbeat-interval-seconds", "0.5", "--death-timeout-seconds", "120",
                 "--logging-level", "WARNING")  # fmt: skip


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.01)


def run_map(client: Client, tasks: int, fault: Callable[[], str]) -> dict[str, object]:
    """Submit ``tasks`` tasks, inject the fault at 10 % done, and count what came back."""
    directory = tempfile.mkdtemp(prefix="scaler-chaos-")
    started = time.monotonic()
    futures = client.submit_many(recorded_square, [(i, directory) for i in range(tasks)])
    outcomes: Counter[int] = Counter()
    lock = threading.Lock()

    def count(index: int) -> None:
        with lock:
            outcomes[index] += 1

    for index, future in enumerate(futures):
        future.add_done_callback(lambda _, index=index: count(index))
    wait_for(lambda: sum(f.done() for f in futures) >= tasks // 10, timeout=300)
    faults = fault()
    lost = 0
    for index, future in enumerate(futures):
        try:
            lost += future.result(timeout=600) != index * index
        except Exception:
            lost += 1
    wall = time.monotonic() - started
    time.sleep(1)  # late duplicates, if any, would land now
    executions = Counter(int(name.split("-")[0]) for name in os.listdir(directory))
    return {
        "tasks": tasks, "faults": faults, "lost": lost,
        "duplicated": sum(n - 1 for n in outcomes.values() if n > 1),
        "re-runs": sum(n - 1 for n in executions.values() if n > 1), "wall s": f"{wall:.1f}",
    }  # fmt: skip


def scheduler_restart(tasks: int) -> dict[str, object]:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = start("scaler_scheduler", address, "--logging-level", "WARNING")
    pool = None
    try:
        wait_for_port(port)
        pool = workers(address, 2, "FIX")
        with Client(address=address, timeout_seconds=120) as client:

            def fault() -> str:
                nonlocal scheduler
                scheduler.kill()
                scheduler.wait()
                scheduler = start("scaler_scheduler", address, "--logging-level", "WARNING")
                return "scheduler SIGKILL + restart"

            return run_map(client, tasks, fault)
    finally:
        stop(scheduler)  # type: ignore[arg-type]
        if pool is not None:
            pool.terminate()
            pool.wait(30)


def partition(tasks: int, seconds: float, worker_timeout: float) -> dict[str, object]:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = start("scaler_scheduler", address, "--worker-timeout-seconds", str(worker_timeout),
                      "--logging-level", "WARNING")  # fmt: skip
    wait_for_port(port)
    proxy = TcpProxy(port)
    pools = [workers(proxy.address, 1, "CUT"), workers(address, 1, "DIRECT")]
    try:
        with Client(address=address, timeout_seconds=120) as client:

            def fault() -> str:
                proxy.partition()
                time.sleep(seconds)
                proxy.heal()
                return f"worker link cut {seconds:g}s (worker timeout {worker_timeout:g}s)"

            return run_map(client, tasks, fault)
    finally:
        proxy.close()
        for pool in pools:
            pool.terminate()
            pool.wait(30)
        stop(scheduler)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: 2,000 tasks per scenario")
    tasks = 2000 if parser.parse_args().quick else 10_000
    scenarios = {
        "scheduler restart": lambda: scheduler_restart(tasks),
        "short partition": lambda: partition(tasks, 5.0, 30.0),
        "long partition": lambda: partition(tasks, 8.0, 3.0),
    }
    columns = ["tasks", "faults", "lost", "duplicated", "re-runs", "wall s"]
    print("| scenario | " + " | ".join(columns) + " |")
    print("| --- " * (len(columns) + 1) + "|")
    for name, scenario in scenarios.items():
        row = scenario()
        print(f"| {name} | " + " | ".join(str(row[column]) for column in columns) + " |", flush=True)


if __name__ == "__main__":
    main()
