"""``[[worker_manager]]``: options shared by every worker manager, and those of ``baremetal_native``.

An adapter declares its own section by subclassing ``WorkerManagerConfig`` and adding fields::

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class AwsRawEcsConfig(WorkerManagerConfig):
        options_title: ClassVar[str] = "aws_raw_ecs options"
        aws_region: str = option("us-east-1", env="AWS_REGION", help="AWS region")

and then adds one line to ``scaler.worker_manager_adapter.registry``.
"""

# option(...) returns a dataclasses.field, which ruff cannot see through (it is not a mutable default).
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
import os
from typing import Any, ClassVar, Literal

from scaler.config.checks import at_least, non_empty
from scaler.config.errors import ConfigError
from scaler.config.options import option
from scaler.config.sections.logging_options import LoggingConfig
from scaler.config.sections.worker import WorkerConfig
from scaler.io.address import Address

NativeMode = Literal["dynamic", "fixed"]


def default_task_concurrency() -> int:
    """One worker per CPU, leaving one CPU for the scheduler and the manager itself; at least one."""
    return max(1, (os.cpu_count() or 1) - 1)


def max_task_concurrency_option(*extra_flags: str) -> Any:
    """The ``max_task_concurrency`` field; a subclass re-declares it to add flags (``-n/--num-of-workers``)."""
    return option(
        default_factory=default_task_concurrency,
        short="-mtc",
        flags=extra_flags,
        check=at_least(-1),
        help="most tasks (workers) this manager runs at once; -1: no limit; by default one less than the CPU count",
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkerManagerConfig(WorkerConfig, LoggingConfig):
    """Options every worker manager takes: where the scheduler is, its id, capacity and scale-down pace."""

    section: ClassVar[str] = "worker_manager"
    options_title: ClassVar[str] = "worker manager options"

    scheduler_address: Address = option(positional=True, help="the scheduler to connect to")
    worker_manager_id: str | None = option(
        None,
        short="-wmi",
        check=non_empty,
        help="identifier of this manager, unique per scheduler; by default derived from the type, host and pid",
    )
    max_task_concurrency: int = max_task_concurrency_option()
    scale_down_cooldown_seconds: float = option(
        30.0,
        short="-sdc",
        check=at_least(0),
        help="a scale-down must stay requested this long before workers stop (0: at once)",
    )

    @property
    def effective_worker_scheduler_address(self) -> Address:
        """The scheduler address handed to spawned workers."""
        return self.worker_scheduler_address or self.scheduler_address


@dataclasses.dataclass(frozen=True, kw_only=True)
class BaremetalNativeConfig(WorkerManagerConfig):
    """Run workers as processes on this machine, started and stopped as the scheduler asks (dynamic mode) or
    started once at a fixed count (fixed mode)."""

    options_title: ClassVar[str] = "baremetal_native options"

    mode: NativeMode = option(
        "dynamic",
        help="dynamic: workers follow the scheduler's scaling policy; fixed: start max_task_concurrency workers now",
    )
    worker_type: str | None = option(
        None, check=non_empty, help="prefix of worker ids; by default NAT (dynamic) or FIX (fixed)"
    )
    max_task_concurrency: int = max_task_concurrency_option("-n", "--num-of-workers")

    def check_consistency(self) -> None:
        super().check_consistency()
        if self.mode == "fixed" and self.max_task_concurrency < 0:
            raise ConfigError(
                f"mode = fixed starts exactly max_task_concurrency workers, so it must be >= 0 "
                f"(got {self.max_task_concurrency})"
            )
