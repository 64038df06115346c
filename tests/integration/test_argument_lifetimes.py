"""A large argument's upload lives while its object or an unfinished task can use it, and no longer: a long-lived
client that passes a fresh large argument to every task must not fill object storage or the processors."""

from __future__ import annotations

import gc
import os
import pathlib
from collections.abc import Iterator

import pytest
import zmq
from tests.conftest import wait_until

from scaler import Client, SchedulerClusterCombo
from scaler.io.object_client import ObjectStorageConnection

MB = 1024 * 1024


def size_of(payload: bytes) -> int:
    return len(payload)


def cached_objects() -> int:
    from scaler.worker.agent.processor.processor import Processor

    processor = Processor.get_current_processor()
    assert processor is not None
    return len(processor._cache)


@pytest.fixture(scope="module")
def single_worker_cluster() -> Iterator[SchedulerClusterCombo]:
    combo = SchedulerClusterCombo(n_workers=1, logging_level="WARNING")
    try:
        yield combo
    finally:
        combo.shutdown()


@pytest.fixture
def storage(single_worker_cluster: SchedulerClusterCombo) -> Iterator[ObjectStorageConnection]:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    connection = ObjectStorageConnection(context, single_worker_cluster.object_storage_address)
    try:
        yield connection
    finally:
        connection.close()
        context.term()


def stored_bytes(storage: ObjectStorageConnection) -> int:
    return storage.stats(timeout=10).bytes


def test_fresh_large_arguments_do_not_accumulate(
    single_worker_cluster: SchedulerClusterCombo, storage: ObjectStorageConnection
) -> None:
    with Client(address=single_worker_cluster.get_address(), heartbeat_interval_seconds=1) as client:
        baseline_cache = client.submit(cached_objects).result(timeout=30)
        for _ in range(20):
            assert client.submit(size_of, os.urandom(4 * MB)).result(timeout=30) == 4 * MB
        # 80 MB went through; nothing of it stays, neither in storage nor cached in the processor (but size_of)
        wait_until(lambda: stored_bytes(storage) < MB, timeout=15)
        wait_until(lambda: client.submit(cached_objects).result(timeout=30) <= baseline_cache + 1, timeout=15)


def test_held_argument_is_uploaded_once_and_kept_while_held(
    single_worker_cluster: SchedulerClusterCombo, storage: ObjectStorageConnection
) -> None:
    with Client(address=single_worker_cluster.get_address(), heartbeat_interval_seconds=1) as client:
        payload = os.urandom(4 * MB)
        assert client.map(size_of, [payload] * 10) == [4 * MB] * 10
        assert 4 * MB <= stored_bytes(storage) < 5 * MB  # one upload, still there: the client holds the bytes
        del payload
        gc.collect()
        wait_until(lambda: stored_bytes(storage) < MB, timeout=15)  # the client's timer notices it is gone


def test_graph_intermediate_results_leave_the_processors(
    single_worker_cluster: SchedulerClusterCombo, storage: ObjectStorageConnection
) -> None:
    with Client(address=single_worker_cluster.get_address()) as client:
        baseline_cache = client.submit(cached_objects).result(timeout=30)
        graph = {f"blob{i}": (os.urandom, 2 * MB) for i in range(5)}
        graph.update({f"size{i}": (size_of, f"blob{i}") for i in range(5)})
        assert client.get(graph, [f"size{i}" for i in range(5)]) == {f"size{i}": 2 * MB for i in range(5)}
        wait_until(lambda: stored_bytes(storage) < MB, timeout=15)
        functions = 2  # os.urandom and size_of stay cached: the client may call them again
        wait_until(lambda: client.submit(cached_objects).result(timeout=30) <= baseline_cache + functions, timeout=15)


def hold_until(path: str, value: bytes) -> int:
    """Says it started (``path``.started), then waits for ``path`` to exist: the test looks around meanwhile."""
    import pathlib
    import time

    pathlib.Path(path + ".started").touch()
    while not os.path.exists(path):
        time.sleep(0.01)
    return len(value)


def test_small_graph_results_never_go_through_object_storage(
    single_worker_cluster: SchedulerClusterCombo, storage: ObjectStorageConnection, tmp_path: pathlib.Path
) -> None:
    release = str(tmp_path / "release")
    with Client(address=single_worker_cluster.get_address()) as client:
        # A 200 KB intermediate value (under the inline limit): the scheduler hands it to its dependent, and object
        # storage never holds it, not even while the dependent runs (before, it stayed there until the graph ended).
        future = client.get({"a": (os.urandom, 200_000), "c": (hold_until, release, "a")}, ["c"], block=False)["c"]
        wait_until(lambda: os.path.exists(release + ".started"), timeout=60)
        assert stored_bytes(storage) < 100_000
        pathlib.Path(release).touch()
        assert future.result(timeout=60) == 200_000


def test_a_graph_result_with_many_dependents_is_stored_once_instead_of_copied_to_each(
    single_worker_cluster: SchedulerClusterCombo, storage: ObjectStorageConnection, tmp_path: pathlib.Path
) -> None:
    release = str(tmp_path / "release")
    with Client(address=single_worker_cluster.get_address()) as client:
        # 100 KB feeding 21 nodes: inline it would cross the network 21 times; stored, the worker fetches it once.
        graph: dict[str, object] = {"a": (os.urandom, 100_000), "hold": (hold_until, release, "a")}
        graph.update({f"d{i}": (size_of, "a") for i in range(20)})
        futures = client.get(graph, list(graph), block=False)
        wait_until(lambda: os.path.exists(release + ".started"), timeout=60)
        assert stored_bytes(storage) >= 100_000  # there while its dependents run
        pathlib.Path(release).touch()
        assert [futures[f"d{i}"].result(timeout=60) for i in range(20)] == [100_000] * 20
        assert futures["hold"].result(timeout=60) == 100_000
        wait_until(lambda: stored_bytes(storage) < 100_000, timeout=15)  # and gone with the graph


def test_dropped_references_are_released(
    single_worker_cluster: SchedulerClusterCombo, storage: ObjectStorageConnection
) -> None:
    with Client(address=single_worker_cluster.get_address()) as client:
        for _ in range(10):
            reference = client.send_object(os.urandom(4 * MB))
            assert client.map(size_of, [reference] * 3) == [4 * MB] * 3
        assert stored_bytes(storage) >= 4 * MB  # the last one is still held
        del reference
        gc.collect()
        wait_until(lambda: stored_bytes(storage) < MB, timeout=15)


def large_or_small(i: int) -> bytes:
    return bytes(300 * 1024) if i >= 296 else b"small"  # 300 KB: over the inline limit, stored as an object


class FailsOnceResultsAreStored:
    """An argument whose serialization fails, but only once the graph's first nodes have stored their results."""

    def __init__(self, storage: ObjectStorageConnection) -> None:
        self.storage = storage

    def __reduce__(self) -> tuple[object, ...]:
        wait_until(lambda: stored_bytes(self.storage) >= 4 * 300 * 1024, timeout=60)
        raise TypeError("this argument cannot be serialized")


def test_a_graph_that_fails_while_it_is_built_leaves_no_result_in_storage(
    single_worker_cluster: SchedulerClusterCombo, storage: ObjectStorageConnection
) -> None:
    with Client(address=single_worker_cluster.get_address(), heartbeat_interval_seconds=1) as client:
        # Built (topological order) from the last independent node to the first: n299 first, "bad" after 300 others,
        # when the first part (256 nodes, the large ones among them) has gone out.
        graph: dict[str, object] = {"bad": (size_of, FailsOnceResultsAreStored(storage))}
        graph.update({f"n{i}": (large_or_small, i) for i in range(300)})
        with pytest.raises(TypeError, match="cannot be serialized"):
            client.get(graph, list(graph))
        wait_until(lambda: stored_bytes(storage) < 300 * 1024, timeout=30)
