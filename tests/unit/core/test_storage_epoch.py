"""The object storage a scheduler started: its restarts, their limit, and the epoch echoed to clients."""

from __future__ import annotations

import os
import re
import select
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq
from tests.cli.helpers import free_port_block
from tests.conftest import wait_until

from scaler.ids import owner_prefix
from scaler.io.sockets import BindError, connect_dealer
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.scheduler import storage_child
from scaler.scheduler.core import SchedulerCore, SchedulerSettings
from scaler.scheduler.server import SchedulerOptions, SchedulerServer
from scaler.scheduler.storage_child import (
    MAX_RESTARTS,
    RESTART_WINDOW_SECONDS,
    STORAGE_START_SECONDS,
    StartingStorage,
    StorageChild,
    StorageDiedError,
)
from scaler.security.credentials import ServerCredentials

CLIENT = b"Client|epoch"
ADDRESS = "tcp://127.0.0.1:2"


class FakeProcess:
    """What StorageChild uses of a Popen: a pid, poll(), and a stop."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        assert self.returncode is not None
        return self.returncode

    def terminate(self) -> None:
        self.returncode = -15

    kill = terminate


class FakeStarts:
    """Starts that report on a real pipe, as the storage process does: "ok", or why it cannot listen."""

    def __init__(self, address: str = ADDRESS) -> None:
        self.address = address
        self.processes: list[FakeProcess] = []
        self.report: str | None = "ok"  # None: never reports (a start that hangs)
        self._silent: list[int] = []  # write ends of starts that never report, closed at the end

    def __call__(self, address: str, quota: int, credentials: ServerCredentials | None) -> StartingStorage:
        assert address == self.address
        self.processes.append(FakeProcess(100 + len(self.processes)))
        read_end, write_end = os.pipe()
        if self.report is None:
            self._silent.append(write_end)
        else:
            os.write(write_end, self.report.encode())
            os.close(write_end)
        return StartingStorage(address, self.processes[-1], read_end)

    def report_late(self, report: str) -> None:
        """The start that has not reported yet reports now."""
        write_end = self._silent.pop()
        os.write(write_end, report.encode())
        os.close(write_end)

    def kill_latest(self) -> None:
        self.processes[-1].returncode = -9

    def close(self) -> None:
        for fd in self._silent:
            os.close(fd)


@pytest.fixture
def starts() -> Iterator[FakeStarts]:
    fake = FakeStarts()
    try:
        yield fake
    finally:
        fake.close()


def restart(child: StorageChild, now: float) -> None:
    """What the scheduler's loop does: check on its tick, then hear from the restart's ready pipe."""
    assert child.check(now)
    fd = child.restarting_fd
    assert fd is not None and select.select([fd], [], [], 30)[0] == [fd]
    assert not child.check(now)  # while it starts: no second restart
    child.on_ready()
    assert child.restarting_fd is None


def echo_epoch(core: SchedulerCore) -> int:
    core.handle(CLIENT, m.ClientHeartbeat(m.PROTOCOL_VERSION, CLIENT, 0.0, 0), 0.0)
    [echo] = [message for message in core.flush().to_peers[CLIENT] if isinstance(message, m.ClientHeartbeatEcho)]
    return echo.storage_epoch


def test_the_echo_carries_the_storage_epoch() -> None:
    core = SchedulerCore(SchedulerSettings(object_storage_address=ADDRESS), policy=None)
    assert echo_epoch(core) == 0
    core.storage_epoch += 1  # what the shell does once it restarted its storage
    assert echo_epoch(core) == 1


def test_a_dead_storage_is_restarted_until_it_dies_too_often(starts: FakeStarts) -> None:
    child = StorageChild(ADDRESS, 0, None, spawn=starts)
    assert not child.check(0.0)  # alive: nothing to do
    for n in range(MAX_RESTARTS):
        starts.kill_latest()
        restart(child, float(n))
        assert child.process is starts.processes[-1]
    starts.kill_latest()
    with pytest.raises(StorageDiedError, match=f"{ADDRESS}.*signal SIGKILL"):
        child.check(float(MAX_RESTARTS))


def test_deaths_spread_over_more_than_the_window_are_all_restarted(starts: FakeStarts) -> None:
    child = StorageChild(ADDRESS, 0, None, spawn=starts)
    for n in range(3 * MAX_RESTARTS):
        starts.kill_latest()
        restart(child, n * RESTART_WINDOW_SECONDS / 2)
    assert len(starts.processes) == 3 * MAX_RESTARTS + 1


def test_a_storage_that_cannot_start_again_stops_the_scheduler(starts: FakeStarts) -> None:
    child = StorageChild(ADDRESS, 0, None, spawn=starts)
    starts.kill_latest()
    starts.report = "tcp://127.0.0.1:2 is in use"
    with pytest.raises(StorageDiedError, match=re.escape("could not start again (tcp://127.0.0.1:2 is in use)")):
        restart(child, 0.0)


def test_a_restart_that_does_not_listen_in_time_stops_the_scheduler(starts: FakeStarts) -> None:
    child = StorageChild(ADDRESS, 0, None, spawn=starts)
    starts.kill_latest()
    starts.report = None
    assert child.check(0.0)
    assert not child.check(STORAGE_START_SECONDS - 1)  # still starting: the scheduler serves on meanwhile
    with pytest.raises(StorageDiedError, match="did not start again"):
        child.check(STORAGE_START_SECONDS + 1)
    assert starts.processes[-1].returncode is not None  # the start that hung is stopped


def test_the_first_start_that_cannot_listen_is_a_bind_error(starts: FakeStarts) -> None:
    starts.report = "tcp://127.0.0.1:2 is in use"
    with pytest.raises(BindError, match="is in use"):
        StorageChild(ADDRESS, 0, None, spawn=starts)


def test_the_scheduler_serves_while_its_storage_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port_block()  # the scheduler, its storage (a fake here) and its monitor
    starts = FakeStarts(f"tcp://127.0.0.1:{port + 1}")
    monkeypatch.setattr(storage_child, "spawn_object_storage_process", starts)
    server = SchedulerServer(SchedulerOptions(f"tcp://127.0.0.1:{port}"))
    loop = threading.Thread(target=server.run)  # closes the server when its loop stops
    loop.start()
    context: zmq.Context[Any] = zmq.Context()
    client = connect_dealer(context, server.address, CLIENT, None)
    try:

        def echoed_epoch() -> int:
            client.send(codec.encode_one(m.ClientHeartbeat(m.PROTOCOL_VERSION, CLIENT, 0.0, 0)))
            while True:
                assert client.poll(30_000), "the scheduler did not answer"
                for message in codec.decode(client.recv()):
                    if isinstance(message, m.ClientHeartbeatEcho):
                        return message.storage_epoch

        assert echoed_epoch() == 0
        starts.report = None  # the restart will take its time to listen
        starts.kill_latest()
        wait_until(lambda: len(starts.processes) == 2, timeout=30)
        assert echoed_epoch() == 0  # answered while the storage starts again
        starts.report_late("ok")
        wait_until(lambda: echoed_epoch() == 1, timeout=30)  # it listens: clients are told to upload again
        assert loop.is_alive() and server.failure is None
    finally:
        client.close(linger=0)
        context.term()
        server.loop.stop()
        loop.join(30)
        starts.close()


def test_storage_hears_of_a_client_that_joins_as_another_leaves() -> None:
    # A test's helper client left as the test's own client joined, in one batch: the count of clients did not change,
    # the scheduler did not list the newcomer, and its first large result was refused as an unknown owner's.
    context: zmq.Context[Any] = zmq.Context()
    storage = context.socket(zmq.ROUTER)  # stands in for object storage: records what the scheduler tells it
    storage_port = storage.bind_to_random_port("tcp://127.0.0.1")
    server = SchedulerServer(
        SchedulerOptions(
            f"tcp://127.0.0.1:{free_port_block()}", object_storage_address=f"tcp://127.0.0.1:{storage_port}"
        )
    )
    first, second = b"Client|first", b"Client|second"
    peers = {name: connect_dealer(context, server.address, name, None) for name in (first, second)}

    def listed() -> set[bytes]:
        """The owners of the last listing storage got, once the scheduler has flushed."""
        server._flush()
        owners: set[bytes] = set()
        while storage.poll(100):
            for message in codec.decode(storage.recv_multipart()[1]):
                if isinstance(message, m.ObjectOwnersAlive):
                    owners = set(message.owner_prefixes)
        return owners

    def handle_until(done: Callable[[], bool]) -> None:
        def step() -> bool:
            if server._router.poll(10):
                server._on_router()
            return done()

        wait_until(step, timeout=30, interval=0)

    try:
        peers[first].send(codec.encode_one(m.ClientHeartbeat(m.PROTOCOL_VERSION, first, 0.0, 0)))
        handle_until(lambda: first in server.core.clients)
        assert owner_prefix(first) in listed()
        peers[first].send(codec.encode_one(m.ClientDisconnect(False)))
        peers[second].send(codec.encode_one(m.ClientHeartbeat(m.PROTOCOL_VERSION, second, 0.0, 0)))
        handle_until(lambda: first not in server.core.clients and second in server.core.clients)  # no flush between
        assert owner_prefix(second) in listed()
    finally:
        for peer in peers.values():
            peer.close(linger=0)
        server.close()
        storage.close(linger=0)
        context.term()
