"""Deaths that are not the task's fault, and work stuck behind a long task, on a real local cluster."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli.helpers import command, free_port_block, wait_for_port
from tests.conftest import wait_for_workers, wait_until

from scaler import Client, SchedulerClusterCombo
from scaler.errors import ProcessorDiedError, WorkerDiedError


def note_pids_then_sleep(path: str, seconds: float) -> int:
    """Record (agent pid, processor pid) of this attempt; the first attempt then works long enough to be killed
    (the test kills it), later ones return at once. Returns the agent's pid."""
    first = not os.path.exists(path)
    with open(path, "a") as file:
        file.write(f"{os.getppid()} {os.getpid()}\n")
    time.sleep(seconds if first else 0)
    return os.getppid()


def kill_own_processor() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def sleep_then(seconds: float, value: object) -> object:
    time.sleep(seconds)
    return value


@pytest.fixture(scope="module")
def two_workers() -> Iterator[SchedulerClusterCombo]:
    with SchedulerClusterCombo(n_workers=2, load_balance_seconds=0.5) as cluster:
        wait_for_workers(cluster.get_address(), 2)
        yield cluster


def attempts(path: Path) -> list[tuple[int, int]]:
    if not path.exists():
        return []
    return [(int(a), int(b)) for a, b in (line.split() for line in path.read_text().splitlines() if line)]


def test_an_innocent_task_whose_processor_is_killed_from_outside_runs_again_elsewhere(
    two_workers: SchedulerClusterCombo, tmp_path: Path
) -> None:
    # The first SIGKILL used to fail the task (and with it a whole map) with ProcessorDiedError.
    record = tmp_path / "attempts"
    with Client(address=two_workers.get_address()) as client:
        future = client.submit(note_pids_then_sleep, str(record), 300)
        wait_until(lambda: len(attempts(record)) == 1, timeout=60)
        first_agent, first_processor = attempts(record)[0]
        os.kill(first_processor, signal.SIGKILL)  # an operator, or the OOM killer
        agent = future.result(timeout=120)
        assert len(attempts(record)) == 2
        assert agent != first_agent == attempts(record)[0][0]  # re-run on the other worker


def test_a_task_that_kills_every_processor_fails_after_the_retry_cap(two_workers: SchedulerClusterCombo) -> None:
    with Client(address=two_workers.get_address()) as client:
        with pytest.raises(ProcessorDiedError, match=r"killed by signal SIGKILL.*ran 4 times"):
            client.submit(kill_own_processor).result(timeout=120)
        assert client.submit(abs, -3).result(timeout=60) == 3  # the cluster is fine


def test_small_tasks_queued_behind_a_long_one_move_to_the_idle_worker(two_workers: SchedulerClusterCombo) -> None:
    # The balancer used to move tasks once per streak of identical advice: the idle worker finished what it got
    # within a round and the rest waited for the long task (90 s in the report).
    with Client(address=two_workers.get_address()) as client:
        long = client.submit(sleep_then, 600, "long")
        time.sleep(0.2)  # let the long one be placed first (only an ordering hint; the test waits on results)
        smalls = [client.submit(sleep_then, 0.05, n) for n in range(20)]
        assert [small.result(timeout=120) for small in smalls] == list(range(20))
        assert not long.done()  # they did not wait for it
        long.cancel()
        wait_until(long.done, timeout=60)


def kill_own_worker() -> None:
    os.kill(os.getppid(), signal.SIGKILL)  # the processor's parent is its worker agent


def test_a_task_that_kills_every_worker_it_lands_on_fails_after_the_retry_cap() -> None:
    # The worker agent says TaskStarted before the task can run, so even a task that kills its agent at once
    # is charged with the death: it must not be re-queued as "only queued there" forever.
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    with command("scaler_scheduler", address, "--policy-content", "allocate=even_load; scaling=vanilla"):
        wait_for_port(port)
        with command("scaler_worker_manager", "baremetal_native", address, "--max-task-concurrency", "2",
                     "--heartbeat-interval-seconds", "0.5", "--logging-level", "WARNING"):  # fmt: skip
            with Client(address=address) as client:
                with pytest.raises(WorkerDiedError, match=r"died while running the task.*ran 4 times"):
                    client.submit(kill_own_worker).result(timeout=180)
                assert client.submit(abs, -4).result(timeout=120) == 4  # the manager replaced its workers
