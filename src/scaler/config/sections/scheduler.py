"""``[scheduler]``: the options of ``scaler_scheduler``."""

# option(...) returns a dataclasses.field, which ruff cannot see through (it is not a mutable default).
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from scaler.config.checks import EventLoopName, at_least, event_loop_available, greater_than, non_empty, not_equal
from scaler.config.options import option
from scaler.config.sections.logging_options import LoggingConfig
from scaler.io.address import Address
from scaler.scheduler.policy.content import DEFAULT_POLICY_CONTENT as DEFAULT_POLICY_CONTENT  # its home

PolicyEngineType = Literal["simple", "waterfall_v1"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class SchedulerConfig(LoggingConfig):
    """Start the scheduler: it receives tasks from clients and hands them to workers.

    When no object storage address is given, the scheduler starts an object storage server at its own port + 1.
    """

    section: ClassVar[str] = "scheduler"
    options_title: ClassVar[str] = "scheduler options"

    scheduler_address: Address = option(
        positional=True,
        aliases=("bind_address",),
        help="address to bind, tcp://HOST:PORT or ipc://PATH",
    )
    object_storage_address: Address | None = option(
        None,
        short="-osa",
        help="object storage server to use; when not given, one is started at the scheduler's port + 1",
    )
    advertised_object_storage_address: Address | None = option(
        None,
        short="-aosa",
        help="object storage address told to clients and workers (for NAT or public IPs); "
        "by default the object storage address itself",
    )
    object_storage_max_bytes_per_owner: int = option(
        0,
        short="-osmbo",
        check=at_least(0),
        help="for the object storage this scheduler starts: most bytes one client's objects may take; "
        "a put beyond it is refused with an error (0: no limit)",
    )
    monitor_address: Address | None = option(
        None, short="-ma", help="address to publish monitoring snapshots on; by default the scheduler's port + 2"
    )
    protected: bool = option(False, short="-p", help="refuse shutdown requests sent by clients")
    max_number_of_tasks_waiting: int = option(
        -1, short="-mt", check=at_least(-1), help="most tasks queued while all workers are busy (-1: no limit)"
    )
    client_timeout_seconds: float = option(
        60.0,
        short="-ct",
        check=greater_than(0),
        help="a client silent this long is disconnected and its tasks cancelled",
    )
    worker_timeout_seconds: float = option(
        60.0, short="-wt", check=greater_than(0), help="a worker silent this long is removed and its tasks re-queued"
    )
    object_retention_seconds: float = option(
        60.0,
        short="-ot",
        check=greater_than(0),
        help="how long the objects of a client that stopped heartbeating are kept after it is dropped",
    )
    load_balance_seconds: float = option(
        1.0,
        short="-ls",
        check=not_equal(0, " (use a negative value to disable balancing)"),
        help="interval between load-balancing rounds; a negative value disables balancing",
    )
    load_balance_trigger_times: int = option(
        2,
        short="-lbt",
        check=greater_than(0),
        help="how many identical balancing advices in a row trigger a rebalance",
    )
    event_loop: EventLoopName = option("builtin", short="-el", check=event_loop_available, help="event loop")
    io_threads: int = option(1, short="-it", check=greater_than(0), help="threads of the I/O backend")
    policy_engine_type: PolicyEngineType = option("simple", short="-et", help="policy engine")
    policy_content: str = option(
        DEFAULT_POLICY_CONTENT,
        short="-pc",
        check=non_empty,
        help="policy definition; 'scaling=vanilla' lets worker managers scale",
    )
    status_report_interval_seconds: float = option(
        1.0, short="-sri", check=greater_than(0), help="interval between monitoring snapshots"
    )

    @property
    def effective_object_storage_address(self) -> Address:
        """The object storage the scheduler uses: the given one, or the one it starts at port + 1."""
        return self.object_storage_address or self.scheduler_address.with_port_offset(1)

    @property
    def effective_monitor_address(self) -> Address:
        """Where monitoring snapshots are published: the given address, or port + 2."""
        return self.monitor_address or self.scheduler_address.with_port_offset(2)
