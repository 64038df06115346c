"""Back-pressure against a real cluster: a full scheduler makes submits wait instead of refusing them."""

from __future__ import annotations

import pytest

from scaler import Client, SchedulerClusterCombo
from scaler.errors import SubmitTimeoutError


def square(x: int) -> int:
    return x * x


def test_submitting_far_more_than_the_queue_limit_blocks_and_every_result_arrives() -> None:
    # 5 queued tasks at most and a worker that takes 2 at a time: 600 tasks must wait for room, not fail.
    with SchedulerClusterCombo(n_workers=1, max_number_of_tasks_waiting=5, per_worker_task_queue_size=2) as cluster:
        with Client(address=cluster.get_address(), submit_timeout_seconds=120) as client:
            futures = [client.submit(square, n) for n in range(300)]
            assert [future.result(timeout=120) for future in futures] == [n * n for n in range(300)]
            assert client.map(square, range(300)) == [n * n for n in range(300)]


def test_a_submit_that_finds_no_room_in_time_raises_a_clear_error() -> None:
    with SchedulerClusterCombo(n_workers=0, max_number_of_tasks_waiting=3) as cluster:  # nothing drains the queue
        with Client(address=cluster.get_address(), submit_timeout_seconds=0.5) as client:
            accepted = [client.submit(square, n) for n in range(3)]
            with pytest.raises(SubmitTimeoutError, match=r"max_number_of_tasks_waiting=3"):
                client.submit(square, 3)
            with pytest.raises(SubmitTimeoutError):
                client.map(square, range(10))
            assert not any(future.done() for future in accepted)  # still queued: nothing was refused or lost
