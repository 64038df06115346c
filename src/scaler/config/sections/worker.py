"""Options of the workers a worker manager starts (there is no standalone worker command).

They have no section of their own: every ``[[worker_manager]]`` table holds them flat, and worker managers hand
them on to the workers they spawn.
"""

# option(...) returns a dataclasses.field, which ruff cannot see through (it is not a mutable default).
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
from typing import ClassVar

from scaler.config.checks import (
    EventLoopName,
    at_least,
    check_preload,
    event_loop_available,
    format_capabilities,
    greater_than,
    parse_capabilities,
)
from scaler.config.options import ConfigSection, option
from scaler.io.address import Address


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkerConfig(ConfigSection):
    """How each worker behaves: capabilities, queue, heartbeats, timeouts, memory hygiene, preload hook."""

    options_title: ClassVar[str] = "worker options"

    per_worker_capabilities: dict[str, int] = option(
        default_factory=dict,
        short="-pwc",
        parse=parse_capabilities,
        expected="capabilities like 'linux,cpu=4,gpu'",
        metavar="CAPABILITIES",
        help="capabilities each worker advertises: name or name=integer, comma-separated (a bare name means -1)",
    )
    per_worker_task_queue_size: int = option(
        1000, short="-wtqs", check=greater_than(0), help="most tasks the scheduler queues on one worker"
    )
    heartbeat_interval_seconds: float = option(
        2.0, short="-his", check=greater_than(0), help="interval between heartbeats to the scheduler"
    )
    task_timeout_seconds: float = option(
        0.0, short="-tts", check=at_least(0), help="a task running longer than this fails (0: no limit)"
    )
    death_timeout_seconds: float = option(
        300.0, short="-dts", check=greater_than(0), help="a worker that cannot reach the scheduler this long exits"
    )
    garbage_collect_interval_seconds: float = option(
        30.0, short="-gc", check=greater_than(0), help="interval between garbage collections in the task process"
    )
    trim_memory_threshold_bytes: int = option(
        1073741824,
        short="-tm",
        check=at_least(0),
        help="after a garbage collection, return freed memory to the system when the task process uses this much",
    )
    hard_processor_suspend: bool = option(
        False, short="-hps", help="suspend a task process with SIGSTOP instead of cooperatively"
    )
    io_threads: int = option(1, short="-it", check=greater_than(0), help="threads of the I/O backend")
    event_loop: EventLoopName = option("builtin", short="-el", check=event_loop_available, help="event loop")
    preload: str | None = option(
        None,
        parse=check_preload,
        expected="'package.module', 'package.module:function' or 'package.module:function(literal args)'",
        metavar="MODULE[:FUNCTION]",
        help="what each task process runs before its tasks: a module to import ('my_package.preload'), or a "
        "function to call ('pkg.init:setup' or \"pkg.init:configure('production', debug=False)\")",
    )
    worker_scheduler_address: Address | None = option(
        None, short="-wsa", help="scheduler address given to workers (NAT, cloud); by default the scheduler address"
    )
    object_storage_address: Address | None = option(
        None, short="-osa", help="object storage address for workers; by default the one the scheduler advertises"
    )

    @property
    def capabilities_text(self) -> str:
        """``per_worker_capabilities`` in command-line form (for spawning workers)."""
        return format_capabilities(self.per_worker_capabilities)
