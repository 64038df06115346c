"""Faults injected into a running cluster, full size: a table of what was lost or duplicated.

    .venv/bin/python bench/chaos.py                 # every scenario, full size
    .venv/bin/python bench/chaos.py --scale 0.1     # a tenth of the tasks and faults, as a quick check
    .venv/bin/python bench/chaos.py --only churn restart

Scenarios (the CI-sized versions are the tests marked ``chaos`` in tests/chaos/):
- churn: 20,000 tasks while a worker agent or processor (alternately) is SIGKILLed every 2 s, replacements join;
- client-partition: a client's link to the scheduler black-holed for 5 s (a pausing TCP proxy);
- worker-partition, worker-partition-long: a worker in its own network namespace, its veth link to the
  scheduler down for 5 s, then for longer than worker_timeout_seconds (needs root; skipped otherwise);
- restart: the scheduler SIGKILLed in the middle of a 10,000-task map and started again on the same address;
- poison: a task that kills every processor it touches, among 1,000 innocent tasks.

Columns: tasks; faults injected; lost (futures that did not end with the right value); duplicated (results the
client received for a task that already had its outcome); re-runs (executions beyond one per task: the price
of recovery, not an error); wall time. Every process is started here, on loopback or on this run's own veth
pair, and stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the scenarios share tests/chaos/'s cluster, proxy and namespace helpers

import psutil  # noqa: E402
from tests.chaos.cluster import cluster, executions, kill, recorded  # noqa: E402
from tests.chaos.netns import skip_reason, veth_host  # noqa: E402
from tests.chaos.tcp_proxy import TcpProxy  # noqa: E402
from tests.conftest import wait_for_workers, wait_until  # noqa: E402

from scaler import Client  # noqa: E402


@dataclass
class Row:
    scenario: str
    tasks: int
    faults: int
    lost: int
    duplicated: int
    reruns: int
    seconds: float
    note: str = ""


def segfault() -> None:
    ctypes.string_at(0)


def _outcomes(client: Client, futures: list, expected: list[object], timeout: float) -> tuple[int, int]:  # type: ignore[type-arg]
    lost = 0
    deadline = time.monotonic() + timeout
    for future, value in zip(futures, expected, strict=True):
        try:
            if future.result(timeout=max(0.1, deadline - time.monotonic())) != value:
                lost += 1
        except Exception:
            lost += 1
    duplicated = int(getattr(client._agent, "late_results", 0))  # results for tasks that already had an outcome
    return lost, duplicated


def _reruns(directory: Path) -> int:
    return sum(count - 1 for count in executions(directory).values())


def churn(scale: float, directory: Path) -> Row:
    tasks, period, workers = int(20_000 * scale), 2.0, 4
    rng = random.Random(1)
    started = time.monotonic()
    faults = 0
    with cluster(scheduler_flags=("-wt", "5")) as running:
        running.start_scheduler()
        for _ in range(workers):
            running.start_worker(heartbeat_interval_seconds=0.5)
        wait_for_workers(running.address, workers)
        with Client(address=running.address) as client:
            futures = [client.submit(recorded, str(directory), i, 0.01) for i in range(tasks)]
            while not all(f.done() for f in futures):
                time.sleep(period)  # the fault schedule itself: one kill every period
                victim = rng.choice(running.live_workers())
                if faults % 2 == 0:
                    kill(victim)
                    running.start_worker(heartbeat_interval_seconds=0.5)
                else:
                    children = psutil.Process(victim.pid).children()
                    if children:
                        os.kill(children[-1].pid, signal.SIGKILL)
                faults += 1
            lost, duplicated = _outcomes(client, futures, [i * i for i in range(tasks)], 600)
    return Row(
        "churn (kill every 2 s)", tasks, faults, lost, duplicated, _reruns(directory), time.monotonic() - started
    )


def client_partition(scale: float, directory: Path) -> Row:
    tasks = max(100, int(5_000 * scale))
    started = time.monotonic()
    with cluster() as running:
        running.start_scheduler()
        for _ in range(2):
            running.start_worker(heartbeat_interval_seconds=0.5)
        wait_for_workers(running.address, 2)
        proxy = TcpProxy(running.port)
        with Client(address=proxy.address) as client:
            futures = [client.submit(recorded, str(directory), i, 0.002) for i in range(tasks)]
            wait_until(lambda: len(executions(directory)) >= tasks // 10, 120)
            proxy.partition()
            time.sleep(5)
            proxy.heal()
            lost, duplicated = _outcomes(client, futures, [i * i for i in range(tasks)], 600)
        proxy.close()
    return Row("client partition 5 s", tasks, 1, lost, duplicated, _reruns(directory), time.monotonic() - started)


def worker_partition(scale: float, directory: Path, seconds: float, long: bool) -> Row:
    name = f"worker partition {seconds:g} s" + (" (> worker timeout 3 s)" if long else "")
    reason = skip_reason()
    if reason is not None:
        return Row(name, 0, 0, 0, 0, 0, 0.0, f"skipped: {reason}")
    tasks = max(100, int(2_000 * scale))
    started = time.monotonic()
    flags = ("-wt", "3") if long else ()
    with veth_host() as host, cluster(host.host_ip, flags) as running:
        running.start_scheduler()
        host.popen(running.worker_command(heartbeat_interval_seconds=0.5))
        running.start_worker(heartbeat_interval_seconds=0.5)
        wait_for_workers(running.address, 2)
        with Client(address=running.address) as client:
            futures = [client.submit(recorded, str(directory), i, 0.005) for i in range(tasks)]
            wait_until(lambda: len(executions(directory)) >= tasks // 10, 120)
            host.link_down()
            time.sleep(seconds)
            host.link_up()
            lost, duplicated = _outcomes(client, futures, [i * i for i in range(tasks)], 600)
    return Row(name, tasks, 1, lost, duplicated, _reruns(directory), time.monotonic() - started)


def restart(scale: float, directory: Path) -> Row:
    tasks = max(200, int(10_000 * scale))
    started = time.monotonic()
    with cluster() as running:
        running.start_scheduler()
        for _ in range(2):
            running.start_worker(heartbeat_interval_seconds=0.5)
        wait_for_workers(running.address, 2)
        with Client(address=running.address, timeout_seconds=120) as client:
            futures = [client.submit(recorded, str(directory), i, 0.002) for i in range(tasks)]
            wait_until(lambda: len(executions(directory)) >= tasks // 3, 120)
            assert running.scheduler is not None
            kill(running.scheduler)
            running.start_scheduler()
            lost, duplicated = _outcomes(client, futures, [i * i for i in range(tasks)], 300)
    return Row(
        "scheduler restart (SIGKILL)", tasks, 1, lost, duplicated, _reruns(directory), time.monotonic() - started
    )


def poison(scale: float, directory: Path) -> Row:
    tasks = max(100, int(1_000 * scale))
    started = time.monotonic()
    with cluster() as running:
        running.start_scheduler()
        for _ in range(2):
            running.start_worker(heartbeat_interval_seconds=0.5)
        wait_for_workers(running.address, 2)
        with Client(address=running.address) as client:
            bad = client.submit(segfault)
            futures = [client.submit(recorded, str(directory), i, 0.002) for i in range(tasks)]
            lost, duplicated = _outcomes(client, futures, [i * i for i in range(tasks)], 600)
            try:
                bad.result(timeout=300)
                note = "poison task returned?!"
                lost += 1
            except Exception as error:
                note = f"poison: {type(error).__name__}"
    return Row("poison task", tasks, 1, lost, duplicated, _reruns(directory), time.monotonic() - started, note)


SCENARIOS: dict[str, Callable[[float, Path], Row]] = {
    "churn": churn,
    "client-partition": client_partition,
    "worker-partition": lambda scale, d: worker_partition(scale, d, 5.0, long=False),
    "worker-partition-long": lambda scale, d: worker_partition(scale, d, 8.0, long=True),
    "restart": restart,
    "poison": poison,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full-size task counts")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="run only these scenarios")
    args = parser.parse_args()
    rows = []
    for name in args.only or list(SCENARIOS):
        with tempfile.TemporaryDirectory(prefix=f"scaler-chaos-{name}-") as directory:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            try:
                rows.append(SCENARIOS[name](args.scale, Path(directory)))
            except Exception as error:  # a scenario that breaks is a row saying so, not the end of the table
                rows.append(Row(name, 0, 0, -1, -1, 0, 0.0, f"FAILED: {type(error).__name__}: {error}"))
    print("| scenario | tasks | faults injected | lost | duplicated | re-runs | wall time, s | note |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row.scenario} | {row.tasks} | {row.faults} | {row.lost} | {row.duplicated} | {row.reruns} "
            f"| {row.seconds:.1f} | {row.note} |"
        )


if __name__ == "__main__":
    main()
