"""``scaler_gui [options] [monitor_address]``: a live web view of a scheduler (reads ``[gui]`` with --config)."""

from __future__ import annotations

from collections.abc import Sequence

from scaler.cli._entry import load_or_fail, start
from scaler.config import GuiConfig

PROG = "scaler_gui"


def main(argv: Sequence[str] | None = None) -> None:
    config = load_or_fail(GuiConfig, argv, PROG)
    start(PROG, config, "scaler.monitor.gui.server:run_gui")


if __name__ == "__main__":
    main()
