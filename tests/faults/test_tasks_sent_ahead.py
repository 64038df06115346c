"""Short tasks are sent to a worker's processor ahead of the one it runs (worker/agent/core.py): a cancel, a crash
and a timeout must treat those exactly as tasks still queued at the agent."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import wait_for_workers, wait_until

from scaler import Client, SchedulerClusterCombo
from scaler.errors import ProcessorDiedError, TaskTimeoutError
from scaler.io.address import free_tcp_port
from scaler.monitor.subscriber import StatusSubscriber

MONITOR = f"tcp://127.0.0.1:{free_tcp_port()}"


def wait_for_file(started: str, go: str) -> str:
    Path(started).touch()
    deadline = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.01)
    return "done"


def touch(path: str) -> None:
    Path(path).touch()


def exit_hard() -> None:
    os._exit(3)


def add_one(x: int) -> int:
    return x + 1


@pytest.fixture
def client() -> Iterator[Client]:
    with SchedulerClusterCombo(n_workers=1, task_timeout_seconds=3.0, monitor_address=MONITOR) as cluster:
        with Client(cluster.get_address()) as connected:
            # Many tiny tasks: the worker now takes tasks to be short and sends the next ones ahead.
            assert connected.map(add_one, range(200)) == list(range(1, 201))
            yield connected


def assigned_tasks(subscriber: StatusSubscriber) -> int:
    status = subscriber.receive(5)
    return status.tasks_by_state.get("assigned", 0) if status else 0


def test_a_cancelled_task_sent_ahead_never_runs_and_those_after_it_do(client: Client, tmp_path: Path) -> None:
    started, go, ran = tmp_path / "started", tmp_path / "go", tmp_path / "ran"
    blocking = client.submit(wait_for_file, str(started), str(go))
    wait_until(started.exists, timeout=30)
    cancelled = client.submit(touch, str(ran))  # sent ahead of the blocking task, behind it in the pipe
    with StatusSubscriber(MONITOR) as subscriber:  # on the worker, not still in the scheduler's queue
        wait_until(lambda: assigned_tasks(subscriber) == 2, timeout=30)
    after = [client.submit(add_one, i) for i in range(5)]
    assert cancelled.cancel() is True
    go.touch()
    assert blocking.result(timeout=60) == "done"
    assert [future.result(timeout=60) for future in after] == [1, 2, 3, 4, 5]
    assert not ran.exists(), "the cancelled task ran"


def test_tasks_sent_ahead_of_a_task_that_kills_its_processor_run_on_the_next_one(client: Client) -> None:
    crash = client.submit(exit_hard)
    after = [client.submit(add_one, i) for i in range(20)]
    with pytest.raises(ProcessorDiedError):
        crash.result(timeout=60)
    assert [future.result(timeout=60) for future in after] == list(range(1, 21))


def test_a_task_sent_ahead_of_one_that_times_out_still_runs(client: Client, tmp_path: Path) -> None:
    started = tmp_path / "started"
    stuck = client.submit(wait_for_file, str(started), str(tmp_path / "never"))
    wait_until(started.exists, timeout=30)
    after = [client.submit(add_one, i) for i in range(5)]
    with pytest.raises(TaskTimeoutError):
        stuck.result(timeout=60)
    assert [future.result(timeout=60) for future in after] == [1, 2, 3, 4, 5]


def test_the_balancer_takes_tasks_sent_ahead_of_a_long_one_to_an_idle_worker(tmp_path: Path) -> None:
    with SchedulerClusterCombo(n_workers=2) as cluster, Client(cluster.get_address()) as client:
        wait_for_workers(cluster.get_address(), 2)
        assert client.map(add_one, range(400)) == list(range(1, 401))  # both workers now send tasks ahead
        started, go = tmp_path / "started", tmp_path / "go"
        # All at once: whichever worker gets the long task also gets short ones sent ahead of it at first.
        long = client.submit(wait_for_file, str(started), str(go))
        shorts = [client.submit(add_one, i) for i in range(40)]
        try:
            assert [future.result(timeout=60) for future in shorts] == list(range(1, 41))
            assert not long.done()
        finally:
            go.touch()
        assert long.result(timeout=60) == "done"
