"""The object storage a scheduler started is SIGKILLed: the scheduler starts it again at the same address, the
client re-uploads what it still holds (its function, a 1 MB argument), and new work runs right; a task using an
object the client did not keep (over 16 MiB) fails with ObjectLostError naming it instead of hanging."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
import zmq

from scaler import Client
from scaler.errors import ObjectLostError
from scaler.io.object_client import ObjectStorageConnection
from tests.cli.helpers import BIN, free_port_block, stop, wait_for_port
from tests.conftest import wait_until

pytestmark = pytest.mark.chaos

TASKS = 200


def shifted(x: int, table: bytes) -> int:
    return x + len(table)


@contextmanager
def cluster(log: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A real ``scaler_scheduler`` (which starts its object storage child) and two workers."""
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    with log.open("w") as out:
        scheduler = subprocess.Popen(
            [str(BIN / "scaler_scheduler"), address, "--logging-level", "WARNING"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    workers = None
    try:
        wait_for_port(port)
        workers = subprocess.Popen(
            [str(BIN / "scaler_worker_manager"), "baremetal_native", address, "--mode", "fixed", "-n", "2",
             "--logging-level", "WARNING"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        yield address, scheduler
    finally:
        stop(scheduler)
        if workers is not None:
            stop(workers)


def address_plus_one(address: str) -> str:
    host, port = address.rsplit(":", 1)
    return f"{host}:{int(port) + 1}"


def kill_storage(scheduler: subprocess.Popen[str]) -> None:
    """SIGKILL the scheduler's object storage child and wait until the scheduler has started a new one."""
    [storage] = psutil.Process(scheduler.pid).children()
    os.kill(storage.pid, signal.SIGKILL)
    wait_until(lambda: [c.pid for c in psutil.Process(scheduler.pid).children()] not in ([], [storage.pid]), timeout=90)


def test_killed_object_storage_is_restarted_and_held_uploads_come_back(tmp_path: Path) -> None:
    log = tmp_path / "scheduler.log"
    with cluster(log) as (address, scheduler), Client(address=address, timeout_seconds=120) as client:
        table = client.send_object(b"t" * 1_000_000)  # kept by the client (under 16 MiB)
        unread = client.send_object(b"u" * 999_999)  # kept too, and not in any processor's cache before the kill
        assert client.starmap(shifted, [(i, table) for i in range(TASKS)]) == [i + 1_000_000 for i in range(TASKS)]
        kill_storage(scheduler)
        # The same function and argument, named by the ids the client uploaded before the kill: the reads park in
        # the new, empty storage until the client's re-upload (on its next echo) answers them. (Processors cache
        # what they read, so ``unread`` is what makes the workers read from the new storage.)
        arguments = [(i, table if i % 2 else unread) for i in range(TASKS)]
        assert client.starmap(shifted, arguments) == [i + 1_000_000 - (i % 2 == 0) for i in range(TASKS)]
        assert scheduler.poll() is None
        storage = ObjectStorageConnection(context := zmq.Context(), address_plus_one(address))
        try:  # the held argument itself is back in the new storage
            assert b"".join(bytes(frame) for frame in storage.get(table.object_id, timeout=60)).endswith(b"t" * 1000)
        finally:
            storage.close()
            context.term()
    warnings = [line for line in log.read_text().splitlines() if "restarting it" in line]
    assert len(warnings) == 1 and "SIGKILL" in warnings[0], log.read_text()


@pytest.mark.slow  # the lost object's read waits out object storage's parked-read limit (60 s)
def test_a_task_using_an_object_the_client_did_not_keep_fails_naming_it(tmp_path: Path) -> None:
    with cluster(tmp_path / "scheduler.log") as (address, scheduler), Client(address=address) as client:
        table = client.send_object(b"t" * 1_000_000)
        large = client.send_object(b"L" * (17 * 1024 * 1024))  # over 16 MiB: the client keeps no copy
        assert client.submit(shifted, 1, table).result(timeout=120) == 1_000_001
        kill_storage(scheduler)  # (no task read ``large`` before: no processor has it cached)
        lost = client.submit(shifted, 1, large)
        assert client.submit(shifted, 2, table).result(timeout=120) == 1_000_002  # the other worker is not stuck
        with pytest.raises(ObjectLostError, match=large.object_id.hex()):
            lost.result(timeout=240)
