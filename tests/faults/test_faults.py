"""Faults: crashing processors, killed workers, vanishing clients, garbage on the wire, huge objects."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from tests.conftest import wait_for_workers, wait_until

from scaler import Client, SchedulerClusterCombo
from scaler.errors import ProcessorDiedError, TaskTimeoutError
from scaler.ids import random_object_id
from scaler.io.address import Address
from scaler.io.object_client import ObjectStorageConnection


def exit_hard() -> None:
    os._exit(3)


def segfault() -> None:
    ctypes.string_at(0)


def allocate_forever() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (512 * 1024 * 1024, 512 * 1024 * 1024))
    hoard = []
    while True:
        hoard.append(bytearray(64 * 1024 * 1024))


def sleep_then(seconds: float, value: object) -> object:
    time.sleep(seconds)
    return value


def pid_and_sleep(seconds: float) -> int:
    time.sleep(seconds)
    return os.getppid()


def test_processor_killed_mid_task_fails_the_task_and_is_replaced(client: Client) -> None:
    with pytest.raises(ProcessorDiedError, match="exited with code 3"):
        client.submit(exit_hard).result(timeout=30)
    with pytest.raises(ProcessorDiedError, match="SIGSEGV"):
        client.submit(segfault).result(timeout=30)
    assert client.map(abs, [-1, -2]) == [1, 2]


def exit_leaving_a_child(pid_file: str) -> None:
    """Dies at once, leaving a child that inherited the processor's pipes and keeps them open."""
    child = os.fork()
    if child == 0:
        time.sleep(120)
        os._exit(0)
    with open(pid_file, "a") as file:
        file.write(f"{child}\n")
    os._exit(3)


def test_processor_dying_while_a_child_of_its_task_holds_its_pipe_is_reported(client: Client, tmp_path: Path) -> None:
    # No end-of-file comes on its results pipe: the agent learns of the death from the processor's pidfd.
    pid_file = tmp_path / "children"
    try:
        with pytest.raises(ProcessorDiedError, match="exited with code 3"):
            client.submit(exit_leaving_a_child, str(pid_file)).result(timeout=60)
        assert client.submit(abs, -5).result(timeout=30) == 5
    finally:
        for pid in pid_file.read_text().split() if pid_file.exists() else ():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_out_of_memory_task_fails_cleanly(client: Client) -> None:
    with pytest.raises((MemoryError, ProcessorDiedError)):
        client.submit(allocate_forever).result(timeout=60)
    assert client.submit(abs, -5).result(timeout=30) == 5


def test_task_timeout_kills_overlong_task() -> None:
    with SchedulerClusterCombo(n_workers=1, task_timeout_seconds=1) as cluster:
        with Client(address=cluster.get_address()) as client:
            with pytest.raises(TaskTimeoutError, match="task_timeout_seconds=1"):
                client.submit(sleep_then, 30, None).result(timeout=30)
            assert client.submit(sleep_then, 0, "after").result(timeout=30) == "after"


def test_worker_killed_mid_task_its_tasks_finish_elsewhere() -> None:
    with SchedulerClusterCombo(n_workers=2, heartbeat_interval_seconds=0.5, worker_timeout_seconds=2) as cluster:
        wait_for_workers(cluster.get_address(), 2)
        with Client(address=cluster.get_address()) as client:
            futures = [client.submit(pid_and_sleep, 1.5) for _ in range(6)]
            time.sleep(0.5)
            victim = cluster.worker_pids[0]
            os.kill(victim, signal.SIGKILL)
            results = [future.result(timeout=60) for future in futures]
            assert len(results) == 6
            assert victim not in results[-2:]  # the last tasks ran on the survivor


def test_client_disconnecting_mid_map_frees_the_cluster(cluster: SchedulerClusterCombo) -> None:
    leaving = Client(address=cluster.get_address())
    leaving.submit_many(sleep_then, [(10, i) for i in range(20)])
    time.sleep(0.3)
    leaving.disconnect()
    with Client(address=cluster.get_address()) as staying:
        started = time.monotonic()
        assert staying.map(abs, [-1, -2, -3]) == [1, 2, 3]
        # The departed client's 10 s tasks were cancelled (their processors killed), not waited for.
        assert time.monotonic() - started < 9


@pytest.mark.parametrize("target", ["scheduler", "object_storage"])
def test_garbage_bytes_do_not_take_servers_down(cluster: SchedulerClusterCombo, target: str) -> None:
    address = cluster.get_address() if target == "scheduler" else cluster.object_storage_address
    parsed = Address.parse(address)
    for payload in (os.urandom(4096), b"\xff" * 10 + b"\x7f" + os.urandom(100), b"GET / HTTP/1.1\r\n\r\n"):
        with socket.create_connection((parsed.host, parsed.port), timeout=5) as raw:
            raw.sendall(payload)
            time.sleep(0.05)
    import zmq

    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.connect(address)
    for frames in ([b"not msgpack"], [b"\x91\x93\x63\x01\x02"], [b"a", b"b", b"c"], [b"\xdc\xff\xff"]):
        dealer.send_multipart(frames)
    dealer.close(linger=1000)
    context.term()
    with Client(address=cluster.get_address()) as client:
        assert client.submit(abs, -7).result(timeout=30) == 7
        assert client.submit(len, os.urandom(200_000)).result(timeout=30) == 200_000


@pytest.mark.slow
def test_one_gigabyte_object_round_trip(cluster: SchedulerClusterCombo) -> None:
    import zmq

    owner = Client(address=cluster.get_address())  # storage keeps the objects of the scheduler's clients only
    context = zmq.Context()
    storage = ObjectStorageConnection(context, cluster.object_storage_address)
    blob = bytes(1024 * 1024 * 1024)
    object_id = random_object_id(owner.identity)
    storage.put(object_id, [blob], wait=True, timeout=120)
    frames = storage.get(object_id, timeout=120)
    assert len(frames) == 1 and len(frames[0]) == len(blob)
    storage.delete([object_id], wait=True, timeout=30)
    storage.close()
    context.term()
    owner.disconnect()
    del blob, frames
    with Client(address=cluster.get_address()) as client:
        big = bytes(1024 * 1024 * 1024)
        assert client.submit(len, big).result(timeout=300) == len(big)


def test_failing_preload_is_reported(tmp_path: object, capfd: pytest.CaptureFixture[str]) -> None:
    with SchedulerClusterCombo(n_workers=1, preload="json:no_such_function", logging_level="INFO") as cluster:
        wait_until(lambda: all(p.poll() is not None for p in cluster._processes[2:]), timeout=30)
    assert "preload 'json:no_such_function' failed" in capfd.readouterr().err
