"""The manager side of scaling: scale up at once, scale down after the cooldown, and say so in the log."""

from __future__ import annotations

import pytest

from scaler.io.address import free_tcp_port
from scaler.protocol import messages as m
from scaler.worker_manager_adapter.convergence import Convergence, Decision
from scaler.worker_manager_adapter.provisioner import UnitExit
from scaler.worker_manager_adapter.runner import WorkerManagerRunner


def want(convergence: Convergence, workers: int) -> None:
    convergence.on_command([m.DesiredTaskConcurrency({}, workers)])


def test_scale_down_waits_for_the_cooldown_and_announces_it_once() -> None:
    convergence = Convergence({}, workers_per_unit=1, max_units=-1, scale_down_cooldown_seconds=30)
    want(convergence, 3)
    assert convergence.decide(0, now=0) == Decision(start=3)
    want(convergence, 1)
    assert convergence.decide(3, now=10) == Decision(stop_after_cooldown=2)  # announced when first asked
    assert convergence.decide(3, now=20) == Decision()  # waiting, silently
    assert convergence.decide(3, now=40.5) == Decision(stop=2)
    no_cooldown = Convergence({}, workers_per_unit=1, max_units=-1, scale_down_cooldown_seconds=0)
    no_cooldown.on_command([m.DesiredTaskConcurrency({}, 0)])
    assert no_cooldown.decide(2, now=0) == Decision(stop=2)


class CountingProvisioner:
    workers_per_unit = 1

    def __init__(self) -> None:
        self.units = 0

    def start_units(self, count: int) -> None:
        self.units += count

    def stop_units(self, count: int) -> None:
        self.units -= count

    def live_units(self) -> int:
        return self.units

    def collect_exits(self) -> list[UnitExit]:
        return []

    def terminate(self) -> None:
        self.units = 0


def test_the_manager_logs_a_requested_scale_down_and_the_stop(caplog: pytest.LogCaptureFixture) -> None:
    provisioner = CountingProvisioner()
    runner = WorkerManagerRunner(f"tcp://127.0.0.1:{free_tcp_port()}", "wm", provisioner, -1, {}, 1.0, 0.0)
    try:
        with caplog.at_level("INFO", logger="scaler.worker_manager"):
            runner._on_message(m.WorkerManagerCommand((m.DesiredTaskConcurrency({}, 2),)))
            runner._on_message(m.WorkerManagerCommand((m.DesiredTaskConcurrency({}, 0),)))
        assert provisioner.units == 0
        assert "worker manager 'wm': starting 2 unit(s)" in caplog.text
        assert "worker manager 'wm': stopping 2 idle unit(s)" in caplog.text
    finally:
        runner._scheduler.close(0)
        runner._context.term()
    slow = WorkerManagerRunner(f"tcp://127.0.0.1:{free_tcp_port()}", "wm2", CountingProvisioner(), -1, {}, 1.0, 30.0)
    try:
        with caplog.at_level("INFO", logger="scaler.worker_manager"):
            slow._on_message(m.WorkerManagerCommand((m.DesiredTaskConcurrency({}, 1),)))
            slow._on_message(m.WorkerManagerCommand((m.DesiredTaskConcurrency({}, 0),)))
        assert "the scheduler asked for 1 unit(s) fewer; stopping them in 30s unless demand returns" in caplog.text
    finally:
        slow._scheduler.close(0)
        slow._context.term()
