"""``client.executor()``: the ``concurrent.futures.Executor`` contract, on a real local cluster."""

from __future__ import annotations

import concurrent.futures
import itertools
import time

import pytest

from scaler import Client, ScalerFuture


def double(x: int) -> int:
    return 2 * x


def sleep_then(seconds: float, value: int) -> int:
    time.sleep(seconds)
    return value


def test_submit_returns_scaler_futures(client: Client) -> None:
    with client.executor() as executor:
        future = executor.submit(sleep_then, 0, value=7)
        assert isinstance(future, ScalerFuture)
        assert future.result(timeout=30) == 7
        done, _ = concurrent.futures.wait([executor.submit(double, i) for i in range(5)], timeout=30)
        assert sorted(f.result() for f in done) == [0, 2, 4, 6, 8]


def test_map_yields_in_input_order(client: Client) -> None:
    with client.executor() as executor:
        # The first task is the slowest: order must come from the inputs, not from completion.
        results = executor.map(sleep_then, [0.4, 0.0, 0.1, 0.0], [1, 2, 3, 4], timeout=30)
        assert list(results) == [1, 2, 3, 4]
        assert list(executor.map(double, range(3000))) == [2 * i for i in range(3000)]


def test_map_timeout_raises_and_cancels_the_rest(client: Client) -> None:
    executor = client.executor()
    results = executor.map(sleep_then, [30, 30], [1, 2], timeout=0.5)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        next(results)
    assert time.monotonic() - started < 5
    started = time.monotonic()
    executor.shutdown(wait=True)  # returns once both tasks are cancelled, long before they would end
    assert time.monotonic() - started < 15


def test_map_with_buffersize_reads_its_input_lazily(client: Client) -> None:
    with client.executor() as executor:
        results = executor.map(double, itertools.count(), buffersize=4)  # an endless input
        assert list(itertools.islice(results, 10)) == [2 * i for i in range(10)]
        results.close()  # the 4 tasks still buffered are cancelled
        with pytest.raises(ValueError):
            executor.map(double, [1], buffersize=0)


def test_shutdown_waits_refuses_new_work_and_keeps_the_client(client: Client) -> None:
    executor = client.executor()
    futures = [executor.submit(sleep_then, 0.3, i) for i in range(4)]
    executor.shutdown(wait=True)
    assert all(f.done() for f in futures)
    assert [f.result() for f in futures] == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(double, 1)
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.map(double, [1])
    assert client.submit(double, 21).result(timeout=30) == 42  # the client it was made from is still connected


def test_shutdown_cancel_futures(client: Client) -> None:
    executor = client.executor()
    futures = [executor.submit(sleep_then, 30, i) for i in range(4)]
    started = time.monotonic()
    executor.shutdown(wait=True, cancel_futures=True)
    assert time.monotonic() - started < 15
    assert all(f.cancelled() for f in futures)


def test_task_errors_come_back_as_themselves(client: Client) -> None:
    with client.executor() as executor:
        with pytest.raises(ZeroDivisionError):
            executor.submit(divmod, 1, 0).result(timeout=30)
        with pytest.raises(ZeroDivisionError):
            list(executor.map(divmod, [1, 1], [1, 0]))
