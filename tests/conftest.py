"""Shared fixtures: local clusters on free loopback ports, always torn down."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def cluster() -> Iterator[SchedulerClusterCombo]:
    combo = SchedulerClusterCombo(n_workers=2, logging_level="WARNING")
    try:
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
