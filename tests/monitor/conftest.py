"""A real local cluster whose scheduler publishes its status at a known monitor address."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from scaler import SchedulerClusterCombo
from scaler.monitor.subscriber import StatusSubscriber
from scaler.protocol.status import SchedulerStatus
from tests.cli.helpers import free_port_block


@dataclass(frozen=True)
class MonitoredCluster:
    address: str
    monitor_address: str
    combo: SchedulerClusterCombo


def wait_for_status(monitor_address: str, workers: int, timeout: float = 30.0) -> SchedulerStatus:
    """The first status that shows ``workers`` connected workers (workers take a moment to start)."""
    deadline = time.monotonic() + timeout
    with StatusSubscriber(monitor_address) as subscriber:
        while time.monotonic() < deadline:
            status = subscriber.receive(max(0.1, deadline - time.monotonic()))
            if status is not None and len(status.workers) == workers:
                return status
    raise AssertionError(f"no status with {workers} worker(s) from {monitor_address} within {timeout}s")


@pytest.fixture(scope="module")
def monitored_cluster() -> Iterator[MonitoredCluster]:
    port = free_port_block(3)
    address, monitor = f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{port + 2}"
    combo = SchedulerClusterCombo(address=address, n_workers=2, monitor_address=monitor, logging_level="WARNING")
    try:
        wait_for_status(monitor, workers=2)
        yield MonitoredCluster(address, monitor, combo)
    finally:
        combo.shutdown()
