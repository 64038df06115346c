"""``scaler_scheduler [options] [scheduler_address]``: run the scheduler (reads ``[scheduler]`` with --config)."""

from __future__ import annotations

from collections.abc import Sequence

from scaler.cli._entry import load_or_fail, start
from scaler.config import SchedulerConfig

PROG = "scaler_scheduler"


def main(argv: Sequence[str] | None = None) -> None:
    config = load_or_fail(SchedulerConfig, argv, PROG)
    start(PROG, config, "scaler.scheduler.server:run_scheduler")


if __name__ == "__main__":
    main()
