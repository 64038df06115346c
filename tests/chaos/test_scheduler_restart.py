"""The scheduler is SIGKILLed in the middle of a map and started again on the same address: the workers
register with the new one, the client sends its unfinished tasks again and restores its uploads (the old
scheduler's object storage died with it), and every task ends exactly once with the right result."""

from __future__ import annotations

import subprocess
import time

import pytest

from scaler import Client
from tests.chaos.cluster import count_outcomes
from tests.cli.helpers import BIN, free_port_block, stop, wait_for_port
from tests.conftest import wait_until

pytestmark = pytest.mark.chaos

TASKS = 2000


def shifted(x: int, table: bytes) -> int:
    time.sleep(0.002)
    return x + len(table)


def start_scheduler(address: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "scaler_scheduler"), address, "--logging-level", "WARNING"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("downtime", [0.0, 5.0], ids=["restart-at-once", "down-5s"])
def test_scheduler_killed_mid_map_and_restarted_every_task_ends_once_and_right(downtime: float) -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = start_scheduler(address)
    workers = None
    try:
        wait_for_port(port)
        workers = subprocess.Popen(
            [str(BIN / "scaler_worker_manager"), "baremetal_native", address, "--mode", "fixed", "-n", "2",
             "--death-timeout-seconds", "120", "--heartbeat-interval-seconds", "0.5", "--logging-level", "WARNING"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        with Client(address=address, timeout_seconds=120) as client:
            table = client.send_object(b"t" * 200_000)  # an upload the restarted object storage must get back
            futures = client.submit_many(shifted, [(i, table) for i in range(TASKS)])
            outcomes = count_outcomes(futures)
            wait_until(lambda: sum(f.done() for f in futures) >= TASKS // 10, timeout=120, interval=0.01)
            assert sum(f.done() for f in futures) < TASKS  # the kill lands mid-map
            scheduler.kill()
            scheduler.wait()
            # Tasks submitted while no scheduler is there: zmq may deliver them to the new one before this
            # client's heartbeat (they are refused as "not connected", then sent again) or after (accepted).
            late = client.submit_many(shifted, [(TASKS + i, table) for i in range(100)])
            futures.extend(late)
            count_outcomes(late, outcomes, start=TASKS)
            time.sleep(downtime)  # the fault itself: how long the address stays dead (longer than a heartbeat)
            scheduler = start_scheduler(address)
            results = [future.result(timeout=240) for future in futures]
            assert results == [i + 200_000 for i in range(TASKS + 100)]
            wait_until(lambda: len(outcomes) == TASKS + 100, timeout=10)
            assert set(outcomes.values()) == {1}  # each task's outcome delivered once
            # The restarted cluster keeps working for new work too.
            assert client.submit(shifted, 1, table).result(timeout=60) == 200_001
    finally:
        stop(scheduler)
        if workers is not None:
            workers.terminate()
            workers.wait(30)


def slow_inc(x: int) -> int:
    time.sleep(0.005)
    return x + 1


def test_a_graph_running_when_the_scheduler_restarts_is_sent_again_and_completes() -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = start_scheduler(address)
    workers = None
    try:
        wait_for_port(port)
        workers = subprocess.Popen(
            [str(BIN / "scaler_worker_manager"), "baremetal_native", address, "--mode", "fixed", "-n", "2",
             "--death-timeout-seconds", "120", "--heartbeat-interval-seconds", "0.5", "--logging-level", "WARNING"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        with Client(address=address, timeout_seconds=120) as client:
            nodes = 300
            graph: dict[str, object] = {f"x{i}": (slow_inc, i) for i in range(nodes)}
            graph.update({f"y{i}": (slow_inc, f"x{i}") for i in range(nodes)})
            keys = [f"y{i}" for i in range(nodes)]
            futures = client.get(graph, keys, block=False)
            wait_until(lambda: sum(futures[key].done() for key in keys) >= nodes // 10, timeout=120, interval=0.01)
            assert sum(futures[key].done() for key in keys) < nodes
            scheduler.kill()
            scheduler.wait()
            scheduler = start_scheduler(address)
            assert [futures[key].result(timeout=240) for key in keys] == [i + 2 for i in range(nodes)]
    finally:
        stop(scheduler)
        if workers is not None:
            workers.terminate()
            workers.wait(30)
