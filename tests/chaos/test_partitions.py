"""Partitions between a worker and the scheduler, through a fault-injecting TCP proxy.

- Short (5 s, well under ``worker_timeout_seconds``): nothing is lost and no task runs twice.
- Long (past ``worker_timeout_seconds``): the scheduler gives the cut-off worker's tasks to another worker;
  when the link heals, the zombie's late results are ignored; every task still ends exactly once, right.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaler import Client
from scaler.client.future import ScalerFuture
from tests.chaos.tcp_proxy import TcpProxy
from tests.cli.helpers import BIN, command, free_port_block, wait_for_port
from tests.conftest import wait_until

pytestmark = pytest.mark.chaos

TASKS = 600
WARM_UP = 10**6  # the index of tasks that only check the workers are up


def recorded_square(x: int, directory: str) -> tuple[int, int]:
    """x * x, leaving one file per execution so the test can count how often each task ran (and where)."""
    Path(directory, f"{x}-{uuid.uuid4().hex}").touch()
    time.sleep(0.01)
    return x * x, os.getppid()


def executions(directory: Path) -> Counter[int]:
    return Counter(int(name.split("-")[0]) for name in os.listdir(directory))


def fixed_workers(address: str, count: int, prefix: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "scaler_worker_manager"), "baremetal_native", address, "--mode", "fixed", "-n", str(count),
         "--worker-type", prefix, "--heartbeat-interval-seconds", "0.5", "--death-timeout-seconds", "120",
         "--logging-level", "WARNING"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip


def count_outcomes(futures: list[ScalerFuture]) -> Counter[int]:
    outcomes: Counter[int] = Counter()
    lock = threading.Lock()

    def count(index: int) -> None:
        with lock:
            outcomes[index] += 1

    for index, future in enumerate(futures):
        future.add_done_callback(lambda _, index=index: count(index))
    return outcomes


@pytest.fixture
def cluster(worker_timeout: float) -> Iterator[tuple[str, TcpProxy]]:
    """A scheduler, a worker reaching it only through the proxy, and (long partitions) one reaching it directly."""
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    with command("scaler_scheduler", address, "--worker-timeout-seconds", str(worker_timeout),
                 "--logging-level", "WARNING"):  # fmt: skip
        wait_for_port(port)
        proxy = TcpProxy(port)
        managers = [fixed_workers(proxy.address, 1, "CUT")]
        try:
            yield address, proxy
        finally:
            proxy.close()
            for manager in managers:
                manager.terminate()
                manager.wait(30)


@pytest.mark.parametrize("worker_timeout", [30.0])
def test_a_short_partition_loses_nothing_and_reruns_nothing(cluster: tuple[str, TcpProxy], tmp_path: Path) -> None:
    address, proxy = cluster
    with Client(address=address, timeout_seconds=60) as client:
        futures = client.submit_many(recorded_square, [(i, str(tmp_path)) for i in range(TASKS)])
        outcomes = count_outcomes(futures)
        wait_until(lambda: sum(f.done() for f in futures) >= TASKS // 5, timeout=120, interval=0.01)
        proxy.partition()
        time.sleep(5)  # the fault itself: the link carries nothing for 5 s
        done_during = sum(f.done() for f in futures)
        proxy.heal()
        results = [future.result(timeout=120)[0] for future in futures]
    assert results == [i * i for i in range(TASKS)]
    assert done_during < TASKS  # the partition did cut the map
    wait_until(lambda: len(outcomes) == TASKS, timeout=10)
    assert set(outcomes.values()) == {1}
    assert set(executions(tmp_path).values()) == {1}  # no task ran twice


@pytest.mark.parametrize("worker_timeout", [3.0])
def test_a_long_partition_reruns_the_cut_off_workers_tasks_and_ignores_its_late_results(
    cluster: tuple[str, TcpProxy], tmp_path: Path
) -> None:
    address, proxy = cluster
    direct = fixed_workers(address, 1, "DIRECT")
    try:
        with Client(address=address, timeout_seconds=60) as client:
            def both_workers_run_tasks() -> bool:
                probes = client.submit_many(recorded_square, [(WARM_UP, str(tmp_path))] * 40)
                return len({probe.result()[1] for probe in probes}) == 2

            wait_until(both_workers_run_tasks, timeout=60)
            futures = client.submit_many(recorded_square, [(i, str(tmp_path)) for i in range(TASKS)])
            outcomes = count_outcomes(futures)
            wait_until(lambda: sum(f.done() for f in futures) >= TASKS // 10, timeout=120, interval=0.01)
            proxy.partition()
            time.sleep(8)  # the fault: well past worker_timeout_seconds (3 s), so the worker is declared dead
            proxy.heal()
            results = [future.result(timeout=120)[0] for future in futures]
            assert results == [i * i for i in range(TASKS)]
            wait_until(lambda: len(outcomes) == TASKS, timeout=10)
            assert set(outcomes.values()) == {1}  # exactly one outcome per task, late zombie results ignored
            ran = executions(tmp_path)
            assert any(ran[i] > 1 for i in range(TASKS))  # the cut-off worker's tasks did run again elsewhere
            # The healed worker is usable again.
            assert client.submit(recorded_square, 3, str(tmp_path)).result(timeout=60)[0] == 9
    finally:
        direct.terminate()
        direct.wait(30)


def test_a_short_partition_between_client_and_scheduler_loses_nothing(tmp_path: Path) -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    with command("scaler_scheduler", address, "--client-timeout-seconds", "30", "--logging-level", "WARNING"):
        wait_for_port(port)
        proxy = TcpProxy(port)
        workers = fixed_workers(address, 2, "FIX")
        try:
            with Client(address=proxy.address, timeout_seconds=60) as client:
                futures = client.submit_many(recorded_square, [(i, str(tmp_path)) for i in range(TASKS)])
                outcomes = count_outcomes(futures)
                wait_until(lambda: sum(f.done() for f in futures) >= TASKS // 10, timeout=120, interval=0.01)
                proxy.partition()
                time.sleep(5)  # the fault: neither results nor heartbeats cross for 5 s
                proxy.heal()
                results = [future.result(timeout=120)[0] for future in futures]
            assert results == [i * i for i in range(TASKS)]
            wait_until(lambda: len(outcomes) == TASKS, timeout=10)
            assert set(outcomes.values()) == {1}
            assert set(executions(tmp_path).values()) == {1}
        finally:
            proxy.close()
            workers.terminate()
            workers.wait(30)
