"""``[object_storage_server]``: the options of ``scaler_object_storage_server``."""

# option(...) returns a dataclasses.field, which ruff cannot see through (it is not a mutable default).
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
from typing import ClassVar

from scaler.config.checks import at_least
from scaler.config.options import option
from scaler.config.sections.logging_options import LoggingConfig
from scaler.io.address import Address


@dataclasses.dataclass(frozen=True, kw_only=True)
class ObjectStorageServerConfig(LoggingConfig):
    """Start an object storage server: it holds the functions, arguments and results too big to travel inline."""

    section: ClassVar[str] = "object_storage_server"
    options_title: ClassVar[str] = "object storage server options"

    object_storage_address: Address = option(
        positional=True, aliases=("bind_address",), help="address to bind, tcp://HOST:PORT or ipc://PATH"
    )
    max_bytes_per_owner: int = option(
        0,
        short="-mbo",
        check=at_least(0),
        help="most bytes one client's objects may take; a put beyond it is refused with an error (0: no limit)",
    )
