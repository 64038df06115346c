"""parfun's Scaler backends (scaler_remote, scaler_local) run @parfun.parallel functions on a real cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

parfun = pytest.importorskip("parfun")

from scaler import Client, SchedulerClusterCombo  # noqa: E402
from scaler.worker.context import current_task_context  # noqa: E402

# Partitions of two items: ten items make five tasks (parfun runs fewer than two partitions locally).
by_pairs = {"split": parfun.per_argument(values=parfun.py_list.by_chunk), "fixed_partition_size": 2}


def task_id() -> bytes | None:
    context = current_task_context()
    return None if context is None else context.task_id


@parfun.parallel(combine_with=parfun.py_list.concat, **by_pairs)
def scale(values: list[int], factor: int) -> list[tuple[int, bytes | None]]:
    return [(value * factor, task_id()) for value in values]


@parfun.parallel(
    split=parfun.per_argument(values=parfun.py_list.by_chunk),
    combine_with=parfun.py_list.concat,
    fixed_partition_size=1,
)
def scale_twice(values: list[int]) -> list[tuple[int, bytes | None, list[bytes | None]]]:
    # A parfun call inside a parfun task: parfun hands the backend to the task, which submits nested tasks.
    results = []
    for value in values:
        inner = scale(list(range(4)), value)
        results.append((sum(v for v, _ in inner), task_id(), [where for _, where in inner]))
    return results


def current_processor_is_known() -> bool:
    from scaler.worker.agent.processor.processor import Processor

    return Processor.get_current_processor() is not None


@pytest.fixture
def remote_backend(cluster: SchedulerClusterCombo) -> Iterator[None]:
    with parfun.set_parallel_backend_context("scaler_remote", scheduler_address=cluster.get_address(), n_workers=2):
        yield


def test_split_and_combine_a_list(remote_backend: None) -> None:
    result = scale(list(range(10)), factor=3)
    assert [value for value, _ in result] == [3 * i for i in range(10)]
    places = {where for _, where in result}
    assert None not in places and len(places) == 5  # one task per partition


@pytest.mark.parametrize("use_worker_client", [False, True])
def test_nested_parfun_call_inside_a_task(cluster: SchedulerClusterCombo, use_worker_client: bool) -> None:
    # use_worker_client=True: nested sessions find the scheduler from the task (Processor.get_current_processor()).
    address = cluster.get_address()
    with parfun.set_parallel_backend_context(
        "scaler_remote", scheduler_address=address, n_workers=2, use_worker_client=use_worker_client
    ):
        result = scale_twice([1, 2])
    assert [total for total, _, _ in result] == [6, 12]  # sum(range(4)) * value
    for _, outer, inner in result:
        assert outer is not None and None not in inner
        assert outer not in inner  # the inner partitions ran as tasks of their own


def test_global_backend_form(cluster: SchedulerClusterCombo) -> None:
    parfun.set_parallel_backend("scaler_remote", scheduler_address=cluster.get_address(), n_workers=2)
    try:
        assert [value for value, _ in scale([1, 2, 3, 4], factor=2)] == [2, 4, 6, 8]
    finally:
        parfun.set_parallel_backend("none")


def test_scaler_local_starts_and_stops_its_own_cluster() -> None:
    with parfun.set_parallel_backend_context("scaler_local", n_workers=2, logging_level="WARNING"):
        result = scale(list(range(6)), factor=5)
    assert [value for value, _ in result] == [5 * i for i in range(6)]
    assert None not in {where for _, where in result}


def test_processor_compatibility_path(client: Client) -> None:
    from scaler.worker.agent.processor.processor import Processor

    assert Processor.get_current_processor() is None  # outside a task
    assert client.submit(current_processor_is_known).result(timeout=30) is True
