"""What a worker manager needs from its infrastructure: start and stop units, and say which died."""

from __future__ import annotations

from typing import Protocol


class UnitExit:
    """A unit that ended by itself (a crash, an instance that failed), with the workers it carried."""

    def __init__(self, worker_ids: list[bytes], exit_code: int, reason: str) -> None:
        self.worker_ids = worker_ids
        self.exit_code = exit_code
        self.reason = reason


class Provisioner(Protocol):
    workers_per_unit: int

    def start_units(self, count: int) -> None: ...

    def stop_units(self, count: int) -> None: ...

    def live_units(self) -> int: ...

    def collect_exits(self) -> list[UnitExit]:
        """Units that ended since the last call (not those stopped on purpose)."""
        ...

    def terminate(self) -> None:
        """Stop every unit this manager started."""
        ...
