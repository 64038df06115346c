"""The object storage a scheduler started: its restarts, their limit, and the epoch echoed to clients."""

from __future__ import annotations

import subprocess
from typing import cast

import pytest

from scaler.io.sockets import BindError
from scaler.protocol import messages as m
from scaler.scheduler.core import SchedulerCore, SchedulerSettings
from scaler.scheduler.storage_child import MAX_RESTARTS, RESTART_WINDOW_SECONDS, StorageChild, StorageDiedError
from scaler.security.credentials import ServerCredentials

CLIENT = b"Client|epoch"
ADDRESS = "tcp://127.0.0.1:2"


class FakeProcess:
    """What StorageChild uses of a Popen: a pid, poll() and the exit code."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


class FakeStarts:
    def __init__(self) -> None:
        self.processes: list[FakeProcess] = []
        self.refuse = False

    def __call__(self, address: str, quota: int, credentials: ServerCredentials | None) -> subprocess.Popen[bytes]:
        assert address == ADDRESS
        if self.refuse:
            raise BindError(f"object storage server at {address} exited with code 1 at start")
        self.processes.append(FakeProcess(100 + len(self.processes)))
        return cast("subprocess.Popen[bytes]", self.processes[-1])

    def kill_latest(self) -> None:
        self.processes[-1].returncode = -9


def echo_epoch(core: SchedulerCore) -> int:
    core.handle(CLIENT, m.ClientHeartbeat(m.PROTOCOL_VERSION, CLIENT, 0.0, 0), 0.0)
    [echo] = [message for message in core.flush().to_peers[CLIENT] if isinstance(message, m.ClientHeartbeatEcho)]
    return echo.storage_epoch


def test_the_echo_carries_the_storage_epoch() -> None:
    core = SchedulerCore(SchedulerSettings(object_storage_address=ADDRESS), policy=None)
    assert echo_epoch(core) == 0
    core.storage_epoch += 1  # what the shell does once it restarted its storage
    assert echo_epoch(core) == 1


def test_a_dead_storage_is_restarted_until_it_dies_too_often() -> None:
    starts = FakeStarts()
    child = StorageChild(ADDRESS, 0, None, start=starts)
    assert not child.check(0.0)  # alive: nothing to do
    for n in range(MAX_RESTARTS):
        starts.kill_latest()
        assert child.check(float(n))
        assert child.process is cast("subprocess.Popen[bytes]", starts.processes[-1])
    starts.kill_latest()
    with pytest.raises(StorageDiedError, match=f"{ADDRESS}.*signal SIGKILL"):
        child.check(float(MAX_RESTARTS))


def test_deaths_spread_over_more_than_the_window_are_all_restarted() -> None:
    starts = FakeStarts()
    child = StorageChild(ADDRESS, 0, None, start=starts)
    for n in range(3 * MAX_RESTARTS):
        starts.kill_latest()
        assert child.check(n * RESTART_WINDOW_SECONDS / 2)
    assert len(starts.processes) == 3 * MAX_RESTARTS + 1


def test_a_storage_that_cannot_start_again_stops_the_scheduler() -> None:
    starts = FakeStarts()
    child = StorageChild(ADDRESS, 0, None, start=starts)
    starts.kill_latest()
    starts.refuse = True
    with pytest.raises(StorageDiedError, match="could not start again"):
        child.check(0.0)
