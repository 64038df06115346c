"""Shared fixtures: local clusters on free loopback ports, always torn down."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from scaler import Client, SchedulerClusterCombo


def wait_until(condition: Callable[[], bool], timeout: float = 15.0, interval: float = 0.02) -> None:
    """Wait for a condition with a deadline (never a blind sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for_workers(address: str, count: int, timeout: float = 30.0) -> None:
    """Wait until ``count`` workers run tasks: tests that rely on several workers must not race their start-up
    (on a cold machine the last worker can join seconds after the first)."""

    def processor_pid(_: object) -> int:  # a local function travels by value: workers cannot import tests/
        return os.getpid()

    with Client(address=address) as client:
        wait_until(lambda: len(set(client.map(processor_pid, range(10 * count)))) >= count, timeout, 0.1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[SchedulerClusterCombo]:
    combo = SchedulerClusterCombo(n_workers=2, logging_level="WARNING")
    try:
        wait_for_workers(combo.get_address(), 2)
        yield combo
    finally:
        combo.shutdown()


@pytest.fixture
def client(cluster: SchedulerClusterCombo) -> Iterator[Client]:
    with Client(address=cluster.get_address()) as connected:
        yield connected


def pytest_collection_finish(session: pytest.Session) -> None:
    # Workers cannot import test modules (they are not on the workers' path), so functions defined in tests
    # are shipped by value, exactly as functions defined in a user's __main__ script are.
    import sys

    import cloudpickle

    for item in session.items:
        module = getattr(item, "module", None)
        if module is not None and module.__name__ in sys.modules:
            try:
                cloudpickle.register_pickle_by_value(module)
            except ValueError:
                pass
