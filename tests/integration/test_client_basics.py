"""The client API against a real local cluster: results, errors, objects, cancel, futures."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
import traceback

import pytest

from scaler import Client, SchedulerClusterCombo, Serializer
from scaler.client.results import task_label
from scaler.errors import ClientClosedError, ClientDroppedError, MissingObjectError, ShutdownRefusedError


def add(a: int, b: int = 0) -> int:
    return a + b


def fail(message: str) -> None:
    raise ValueError(message)


def sleep_then(seconds: float, value: object) -> object:
    time.sleep(seconds)
    return value


def test_submit_and_map(client: Client) -> None:
    assert client.submit(add, 2, 3).result(timeout=30) == 5
    assert client.submit(add, 2, b=5).result(timeout=30) == 7
    assert client.map(abs, [-1, -2, 3]) == [1, 2, 3]
    assert client.map(add, range(100), range(100)) == [2 * i for i in range(100)]
    assert client.starmap(pow, [(2, 3), (3, 2)]) == [8, 9]
    assert client.submit(lambda: "lambda ok").result(timeout=30) == "lambda ok"


def test_map_without_iterable_raises(client: Client) -> None:
    with pytest.raises(TypeError):
        client.map(abs)


def test_exception_keeps_remote_traceback(client: Client) -> None:
    future = client.submit(fail, "boom")
    with pytest.raises(ValueError, match="boom") as caught:
        future.result(timeout=30)
    text = "".join(traceback.format_exception(caught.value))
    assert "in fail" in text  # the remote frame of the function that raised
    assert isinstance(future.exception(), ValueError)


def test_large_arguments_and_results(client: Client) -> None:
    blob = os.urandom(3 * 1024 * 1024)
    assert client.submit(len, blob).result(timeout=30) == len(blob)
    assert client.submit(bytes, 2 * 1024 * 1024).result(timeout=30) == bytes(2 * 1024 * 1024)


def test_send_object_reference(client: Client) -> None:
    ref = client.send_object(list(range(100_000)), name="numbers")
    assert ref.name == b"numbers"
    assert client.map(lambda numbers, i: numbers[i], [ref] * 3, [0, 1, 99_999]) == [0, 1, 99_999]


def test_clear_invalidates_references(client: Client) -> None:
    ref = client.send_object(b"x" * 100)
    assert client.submit(len, ref).result(timeout=30) == 100
    client.clear()
    with pytest.raises(MissingObjectError):
        client.submit(len, ref)
    assert client.submit(add, 1, 1).result(timeout=30) == 2


def test_cancel_queued_and_running(cluster: SchedulerClusterCombo) -> None:
    with Client(address=cluster.get_address()) as client:
        running = [client.submit(sleep_then, 30, i) for i in range(2)]
        queued = client.submit(sleep_then, 30, "queued")
        time.sleep(0.5)
        assert queued.cancel()
        assert queued.cancelled()
        assert running[0].cancel()
        with pytest.raises(concurrent.futures.CancelledError):
            running[0].result(timeout=5)
        assert running[1].cancel()
        # The workers are free again: the killed processors were replaced.
        assert client.submit(add, 20, 22).result(timeout=30) == 42


def test_futures_work_with_stdlib_wait_and_as_completed(client: Client) -> None:
    futures = [client.submit(sleep_then, 0.2 * (i % 3), i) for i in range(6)]
    done, not_done = concurrent.futures.wait(futures, timeout=30)
    assert not not_done and len(done) == 6
    assert sorted(f.result() for f in concurrent.futures.as_completed(futures, timeout=30)) == list(range(6))
    slow = client.submit(sleep_then, 1.0, "slow")
    fast = client.submit(add, 1, 1)
    done, not_done = concurrent.futures.wait([slow, fast], timeout=30, return_when=concurrent.futures.FIRST_COMPLETED)
    assert fast in done and all(f.done() for f in done)
    assert slow.result(timeout=30) == "slow"


def test_done_callback_and_await(client: Client) -> None:
    seen: list[int] = []
    future = client.submit(add, 1, 2)
    future.add_done_callback(lambda f: seen.append(f.result()))
    assert future.result(timeout=30) == 3

    async def main() -> int:
        return await client.submit(add, 40, 2)  # type: ignore[no-any-return]

    assert asyncio.run(main()) == 42
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == [3]


class Doubling(Serializer):
    """A serializer that is observable: it doubles ints on the way out of serialize."""

    @staticmethod
    def serialize(obj: object) -> bytes:
        import cloudpickle

        return b"D" + cloudpickle.dumps(obj)

    @staticmethod
    def deserialize(payload: bytes) -> object:
        import pickle

        assert bytes(payload[:1]) == b"D", "payload did not go through the custom serializer"
        return pickle.loads(payload[1:])


def test_custom_serializer(cluster: SchedulerClusterCombo) -> None:
    with Client(address=cluster.get_address(), serializer=Doubling()) as client:
        assert client.submit(add, 3, 4).result(timeout=30) == 7
        assert client.map(str, [1, 2]) == ["1", "2"]


def test_profiling_info(cluster: SchedulerClusterCombo) -> None:
    with Client(address=cluster.get_address(), profiling=True) as client:
        future = client.submit(sum, range(1_000_000))
        future.result(timeout=30)
        info = future.profiling_info()
        assert info.duration_s > 0 and info.cpu_time_s > 0 and info.memory_peak > 0


def test_shutdown_refused_when_protected(client: Client) -> None:
    with pytest.raises(ShutdownRefusedError, match="protected"):
        client.shutdown()
    assert client.submit(add, 1, 2).result(timeout=30) == 3


def test_disconnected_client_refuses_work(cluster: SchedulerClusterCombo) -> None:
    client = Client(address=cluster.get_address())
    client.disconnect()
    client.disconnect()  # idempotent
    with pytest.raises(ClientClosedError):
        client.submit(add, 1, 2)


def nested_sum(n: int) -> int:
    with Client() as inner:
        return sum(inner.map(add, range(n), range(n)))


def fibonacci(n: int) -> int:
    if n < 2:
        return n
    with Client() as inner:
        a = inner.submit(fibonacci, n - 1)
        b = inner.submit(fibonacci, n - 2)
        return a.result() + b.result()  # type: ignore[no-any-return]


def test_nested_tasks(client: Client) -> None:
    assert client.submit(nested_sum, 10).result(timeout=60) == 90
    assert client.submit(fibonacci, 5).result(timeout=120) == 5


def test_client_without_address_outside_task_raises() -> None:
    with pytest.raises(ValueError, match="no scheduler address"):
        Client()


def test_unreachable_scheduler_fails_fast() -> None:
    started = time.monotonic()
    with pytest.raises(ConnectionError):
        Client(address="tcp://127.0.0.1:1", timeout_seconds=1)
    assert time.monotonic() - started < 30


def chatty(n: int) -> int:
    import sys

    print(f"hello from task {n}")
    print(f"warning from task {n}", file=sys.stderr)
    return n


def test_stream_output_reaches_the_client_labelled_by_task(
    cluster: SchedulerClusterCombo, capfd: pytest.CaptureFixture[str]
) -> None:
    with Client(address=cluster.get_address(), stream_output=True) as client:
        future = client.submit(chatty, 7)
        assert future.result(timeout=30) == 7
        deadline = time.monotonic() + 10
        out = err = ""
        while time.monotonic() < deadline and ("hello from task 7" not in out or "warning" not in err):
            captured = capfd.readouterr()
            out, err = out + captured.out, err + captured.err
            time.sleep(0.05)
    label = f"[{task_label(future.task_id)}]"
    assert f"{label} hello from task 7" in out
    assert f"{label} warning from task 7" in err


def test_client_dropped_for_silence_fails_its_futures_instead_of_hanging() -> None:
    combo = SchedulerClusterCombo(n_workers=1, client_timeout_seconds=1, logging_level="WARNING")
    try:
        # Heartbeats every 3 s against a 1 s timeout: the scheduler drops the client between two of them, as it
        # would drop one whose machine slept; the next heartbeat is answered with the reason.
        client = Client(address=combo.get_address(), heartbeat_interval_seconds=3)
        future = client.submit(time.sleep, 30)
        with pytest.raises(ClientDroppedError, match="timed out after 1s without heartbeat"):
            future.result(timeout=20)
        with pytest.raises(ClientClosedError):
            client.submit(abs, -1)
        client.disconnect()
    finally:
        combo.shutdown()
