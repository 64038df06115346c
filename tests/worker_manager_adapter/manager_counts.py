"""What the scheduler says about a manager's workers, read from its monitor stream (as scaler_top does)."""

from __future__ import annotations

from scaler.monitor.subscriber import StatusSubscriber
from tests.conftest import wait_until


def wait_for_counted_workers(monitor_address: str, manager_id: str | None, timeout: float = 60) -> str:
    """Wait until the scheduler counts at least one connected worker under a manager (``manager_id``, or any one
    when None); return that manager's id. Fails (times out) when the workers report another manager's id."""
    found: list[str] = []
    with StatusSubscriber(monitor_address) as subscriber:

        def counted() -> bool:
            status = subscriber.receive(1.0)
            for manager in status.managers if status is not None else ():
                if manager.connected_workers >= 1 and manager_id in (None, manager.manager_id):
                    found.append(manager.manager_id)
                    return True
            return False

        wait_until(counted, timeout=timeout)
    return found[0]
