"""scaler_top: the header and footer agree on the number of managers, and a scheduler's main port is named."""

from __future__ import annotations

import subprocess
import sys

from scaler import SchedulerClusterCombo
from scaler.io.address import Address, free_tcp_port
from scaler.monitor.top_view import View, render
from scaler.protocol.status import ManagerStatus
from tests.monitor.samples import status, worker


def test_header_and_footer_count_managers_alike() -> None:
    # A SchedulerClusterCombo's workers name a manager ("combo") that never connects as one: the header said
    # "managers 0" while the footer said "... under 1 manager(s)".
    for sample, expected in (
        (status((worker(1, manager="combo"), worker(2, manager="combo"))), 1),
        (status((worker(1, manager="wm"),), managers=(ManagerStatus("wm", 8, {}, 1, 1, (), 0.5),)), 1),
        (status((worker(1, manager="a"),), managers=(ManagerStatus("b", 8, {}, 0, 0, (), 0.5),)), 2),
    ):
        text = "\n".join(line for line, _ in render(sample, View("tcp://127.0.0.1:8518"), 200, 30))
        assert f"managers {expected}" in text
        assert f"under {expected} manager(s)" in text


def _top(address: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "scaler.cli.top", address, "--timeout", "1"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_top_pointed_at_a_scheduler_port_names_the_monitor_port(cluster: SchedulerClusterCombo) -> None:
    monitor = str(Address.parse(cluster.get_address()).with_port_offset(2))
    result = _top(cluster.get_address())
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"scaler_top: no status received from {cluster.get_address()} within 1 s: something listens there but "
        f"does not publish statuses: it is a scheduler's port; the scheduler publishes its monitor at {monitor} "
        f"(port + 2): run scaler_top {monitor}"
    )


def test_top_pointed_at_nothing_keeps_its_message() -> None:
    address = f"tcp://127.0.0.1:{free_tcp_port()}"
    result = _top(address)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"scaler_top: no status received from {address} within 1 s: is a scheduler publishing there?"
    )


def test_top_pointed_at_another_service_says_it_does_not_publish(cluster: SchedulerClusterCombo) -> None:
    result = _top(cluster.object_storage_address)  # a ZeroMQ socket of another kind, with no monitor at +2
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"scaler_top: no status received from {cluster.object_storage_address} within 1 s: something listens there "
        "but does not publish statuses (a scheduler's or object storage's port?); a scheduler's monitor is at its "
        "port + 2 unless --monitor-address says otherwise"
    )
