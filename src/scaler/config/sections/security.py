"""The credentials option shared by every command (see ``scaler.security`` and ``scaler_keys``)."""

# option(...) returns a dataclasses.field, which ruff cannot see through (it is not a mutable default).

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from scaler.config.checks import existing_file
from scaler.config.options import ConfigSection, option


def credentials_option() -> Any:
    """The ``credentials`` field, for a section that declares it itself (``TopConfig``: at the end of its own
    fields, so that its positional argument stays first)."""
    return option(None, metavar="FILE", check=existing_file, help=_HELP)


_HELP = "this process's credentials file (made by scaler_keys); by default the one SCALER_CREDENTIALS names"


@dataclasses.dataclass(frozen=True, kw_only=True)
class CredentialsConfig(ConfigSection):
    """Who this process is to the cluster: its CURVE key pair and role, in a file made by scaler_keys."""

    options_title: ClassVar[str] = "security options"

    # Not read from SCALER_CREDENTIALS here: that variable may hold the credentials' text (how a process hands
    # them to its children), which must never be echoed in a config dump; the sockets read it themselves.
    credentials: str | None = credentials_option()
