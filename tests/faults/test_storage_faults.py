"""Object storage that cannot start, keeps dying, is unreachable, is full, or lacks an object: a clear error."""

from __future__ import annotations

import os
import signal
import socket
import subprocess

import psutil
import pytest
import zmq
from tests.cli.helpers import command, free_port_block, run, wait_for_port
from tests.conftest import wait_until

from scaler import Client, SchedulerClusterCombo
from scaler.errors import ObjectLostError, ObjectStorageError
from scaler.ids import random_object_id
from scaler.io.address import free_tcp_port
from scaler.io.object_client import ObjectStorageConnection
from scaler.security.credentials import ENVIRONMENT_VARIABLE


def _one_line_error(result: subprocess.CompletedProcess[str], prog: str, address: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: ") and address in lines[0], result.stderr


@pytest.mark.parametrize("offset", [0, 1, 2], ids=["scheduler-port", "object-storage-port", "monitor-port"])
def test_scheduler_with_a_port_in_use_exits_with_one_line(offset: int) -> None:
    # Before: with port + 1 taken the scheduler logged "cannot bind" for its storage child and then "scheduler
    # listening", and every client that connected hung.
    port = free_port_block()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port + offset))
        busy.listen()
        result = run("scaler_scheduler", f"tcp://127.0.0.1:{port}", timeout=60)
    _one_line_error(result, "scaler_scheduler", f"tcp://127.0.0.1:{port + offset}")


def test_object_storage_server_with_its_port_in_use_exits_with_one_line() -> None:
    port = free_tcp_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        result = run("scaler_object_storage_server", f"tcp://127.0.0.1:{port}", timeout=60)
    _one_line_error(result, "scaler_object_storage_server", f"tcp://127.0.0.1:{port}")


def test_scheduler_exits_with_one_line_when_its_object_storage_keeps_dying() -> None:
    # A storage that dies is restarted (tests/chaos/test_storage_restart.py), but not in a loop: the fourth death
    # within a minute stops the scheduler with one line naming the storage and how it died.
    port = free_port_block()
    with command("scaler_scheduler", f"tcp://127.0.0.1:{port}", "--logging-level", "WARNING") as scheduler:
        wait_for_port(port)
        killed: set[int] = set()
        for _ in range(4):
            wait_until(lambda: _storage_child(scheduler.pid, killed) is not None, timeout=60)
            wait_for_port(port + 1, timeout=60)  # listening: killed now, it counts as a death, not a failed start
            storage = _storage_child(scheduler.pid, killed)
            assert storage is not None
            killed.add(storage)
            os.kill(storage, signal.SIGKILL)
        scheduler.wait(timeout=60)
        output = scheduler.stdout.read() if scheduler.stdout is not None else ""
    assert scheduler.returncode == 1
    assert "Traceback" not in output
    assert sum("restarting it" in line for line in output.splitlines()) == 3, output
    errors = [line for line in output.splitlines() if "error:" in line or " ERROR " in line]
    assert any(f"tcp://127.0.0.1:{port + 1}" in line and "SIGKILL" in line for line in errors), output


def _storage_child(scheduler_pid: int, killed: set[int]) -> int | None:
    """The scheduler's live object storage child, if it has one that was not killed yet."""
    try:
        children = [c.pid for c in psutil.Process(scheduler_pid).children() if c.status() != psutil.STATUS_ZOMBIE]
    except psutil.Error:
        return None
    fresh = [pid for pid in children if pid not in killed]
    return fresh[0] if fresh else None


def test_client_whose_object_storage_is_unreachable_gets_a_clear_error(cluster: SchedulerClusterCombo) -> None:
    # Before: the upload of the function was queued forever and result() never returned.
    nowhere = f"tcp://127.0.0.1:{free_tcp_port()}"
    with Client(address=cluster.get_address(), object_storage_address=nowhere, timeout_seconds=3) as client:
        with pytest.raises(ObjectStorageError, match=nowhere):
            client.submit(abs, -1).result(timeout=60)


def test_tasks_naming_missing_functions_fail_and_the_workers_move_on(cluster: SchedulerClusterCombo) -> None:
    # Before: 6 tasks naming a function id that does not exist froze both workers; none of the others ran.
    with Client(address=cluster.get_address()) as client:
        missing = [random_object_id(b"Client|gone-%d" % i) for i in range(6)]
        real_function_id = client._encoder.function_id
        broken = []
        for object_id in missing:
            client._encoder.function_id = lambda _function, object_id=object_id: object_id  # type: ignore[method-assign]
            broken.append(client.submit(abs, -1))
        client._encoder.function_id = real_function_id  # type: ignore[method-assign]
        assert client.map(abs, range(-10, 0)) == list(range(10, 0, -1))
        for future, object_id in zip(broken, missing, strict=True):
            with pytest.raises(ObjectLostError, match=f"function.*{object_id.hex()}"):
                future.result(timeout=60)


def test_send_object_beyond_the_owner_quota_is_refused_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # This module's secured ``cluster`` may be up, with its owner's credentials in this process's environment
    # (for the tools it starts): the Client of this unsecured scheduler must not offer them.
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    with command("scaler_scheduler", address, "--object-storage-max-bytes-per-owner", "3000000"):
        wait_for_port(port)
        with Client(address=address) as client:
            kept = client.send_object(bytes(2_000_000))
            with pytest.raises(ObjectStorageError, match="quota"):
                client.send_object(bytes(2_000_000))
            del kept
            wait_until(lambda: _fits(client), timeout=30)  # the released reference freed its share of the quota


def _fits(client: Client) -> bool:
    try:
        client.send_object(bytes(2_000_000))
    except ObjectStorageError:
        return False
    return True


def test_objects_no_client_owns_are_reclaimed(cluster: SchedulerClusterCombo) -> None:
    # Before: a put under an id that no client owns (garbage sent to the port, a client that never connected to the
    # scheduler) stayed in object storage forever.
    context = zmq.Context()
    storage = ObjectStorageConnection(context, cluster.object_storage_address)
    try:
        with Client(address=cluster.get_address()) as client:
            owned = random_object_id(client.identity)
            storage.put(owned, [b"\x00", b"kept"], wait=True, timeout=30)
            storage.put(random_object_id(b"Client|never-connected"), [b"\x00", b"garbage"], wait=True, timeout=30)
            before = storage.stats(timeout=30).objects
            wait_until(lambda: storage.stats(timeout=30).objects == before - 1, timeout=60, interval=0.5)
            assert [bytes(f) for f in storage.get(owned, timeout=30)] == [b"\x00", b"kept"]
    finally:
        storage.close()
        context.term()


def test_a_read_from_storage_that_never_answers_ends_at_its_deadline() -> None:
    # Before: ObjectStorageConnection.get waited forever by default, and the processor used that default.
    context = zmq.Context()
    nowhere = f"tcp://127.0.0.1:{free_tcp_port()}"
    storage = ObjectStorageConnection(context, nowhere)
    object_id = random_object_id(b"Client|someone")
    try:
        with pytest.raises(ObjectLostError, match=f"{object_id.hex()}.*{nowhere}.*did not answer"):
            storage.get(object_id, timeout=0.5)
    finally:
        storage.close()
        context.term()
