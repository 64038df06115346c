"""``scaler_top [options] [monitor_address]``: a live terminal view of a scheduler (reads ``[top]`` with --config)."""

from __future__ import annotations

from collections.abc import Sequence

from scaler.cli._entry import load_or_fail, start
from scaler.config import TopConfig

PROG = "scaler_top"


def main(argv: Sequence[str] | None = None) -> None:
    config = load_or_fail(TopConfig, argv, PROG)
    start(PROG, config, "scaler.monitor.top:run_top")


if __name__ == "__main__":
    main()
