"""``[top]`` and ``[gui]``: the monitoring front ends, which subscribe to a scheduler's monitor address."""

# option(...) returns a dataclasses.field, which ruff cannot see through (it is not a mutable default).
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
from typing import ClassVar

from scaler.config.checks import greater_than, parse_host_port
from scaler.config.options import ConfigSection, option
from scaler.config.sections.logging_options import LoggingConfig
from scaler.config.sections.security import credentials_option
from scaler.io.address import Address

_MONITOR_ADDRESS_HELP = "the scheduler's monitor address (by default the scheduler's port + 2)"


@dataclasses.dataclass(frozen=True, kw_only=True)
class TopConfig(ConfigSection):
    """Show a scheduler's workers, tasks and load in the terminal, refreshed live."""

    section: ClassVar[str] = "top"
    options_title: ClassVar[str] = "top options"

    monitor_address: Address = option(positional=True, help=_MONITOR_ADDRESS_HELP)
    timeout: float = option(
        5.0, short="-t", check=greater_than(0), help="seconds to wait for a status message before giving up"
    )
    credentials: str | None = credentials_option()


@dataclasses.dataclass(frozen=True, kw_only=True)
class GuiConfig(LoggingConfig):
    """Serve a web page that shows a scheduler's workers, tasks and load, refreshed live."""

    section: ClassVar[str] = "gui"
    options_title: ClassVar[str] = "gui options"

    monitor_address: Address = option(positional=True, help=_MONITOR_ADDRESS_HELP)
    gui_address: str = option(
        "127.0.0.1:50001",
        parse=parse_host_port,
        expected="HOST:PORT",
        metavar="HOST:PORT",
        help="host and port of the web server (0.0.0.0:PORT serves every interface)",
    )
