"""Partitions between a worker and the scheduler, through a fault-injecting TCP proxy.

- Short (5 s, well under ``worker_timeout_seconds``): nothing is lost and no task runs twice.
- Long (past ``worker_timeout_seconds``): the scheduler gives the cut-off worker's tasks to another worker;
  when the link heals, the zombie's late results are ignored; every task still ends exactly once, right.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaler import Client
from tests.chaos.cluster import count_outcomes, executions, recorded
from tests.chaos.tcp_proxy import TcpProxy
from tests.cli.helpers import BIN, command, free_port_block, wait_for_port
from tests.conftest import wait_for_workers, wait_until

pytestmark = pytest.mark.chaos

TASKS = 600


def fixed_workers(address: str, count: int, prefix: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "scaler_worker_manager"), "baremetal_native", address, "--mode", "fixed", "-n", str(count),
         "--worker-type", prefix, "--heartbeat-interval-seconds", "0.5", "--death-timeout-seconds", "120",
         "--logging-level", "WARNING"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip


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
        futures = client.submit_many(recorded, [(str(tmp_path), i, 0.01) for i in range(TASKS)])
        outcomes = count_outcomes(futures)
        wait_until(lambda: sum(f.done() for f in futures) >= TASKS // 5, timeout=120, interval=0.01)
        proxy.partition()
        time.sleep(5)  # the fault itself: the link carries nothing for 5 s
        done_during = sum(f.done() for f in futures)
        proxy.heal()
        results = [future.result(timeout=120) for future in futures]
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
            wait_for_workers(address, 2, timeout=60)
            futures = client.submit_many(recorded, [(str(tmp_path), i, 0.01) for i in range(TASKS)])
            outcomes = count_outcomes(futures)
            wait_until(lambda: sum(f.done() for f in futures) >= TASKS // 10, timeout=120, interval=0.01)
            proxy.partition()
            time.sleep(8)  # the fault: well past worker_timeout_seconds (3 s), so the worker is declared dead
            proxy.heal()
            results = [future.result(timeout=120) for future in futures]
            assert results == [i * i for i in range(TASKS)]
            wait_until(lambda: len(outcomes) == TASKS, timeout=10)
            assert set(outcomes.values()) == {1}  # exactly one outcome per task, late zombie results ignored
            ran = executions(tmp_path)
            assert any(ran[i] > 1 for i in range(TASKS))  # the cut-off worker's tasks did run again elsewhere
            # The healed worker is usable again.
            assert client.submit(recorded, str(tmp_path), 3, 0.0).result(timeout=60) == 9
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
                futures = client.submit_many(recorded, [(str(tmp_path), i, 0.01) for i in range(TASKS)])
                outcomes = count_outcomes(futures)
                wait_until(lambda: sum(f.done() for f in futures) >= TASKS // 10, timeout=120, interval=0.01)
                proxy.partition()
                time.sleep(5)  # the fault: neither results nor heartbeats cross for 5 s
                proxy.heal()
                results = [future.result(timeout=120) for future in futures]
            assert results == [i * i for i in range(TASKS)]
            wait_until(lambda: len(outcomes) == TASKS, timeout=10)
            assert set(outcomes.values()) == {1}
            assert set(executions(tmp_path).values()) == {1}
        finally:
            proxy.close()
            workers.terminate()
            workers.wait(30)
