"""Logging options shared by every command; sections inherit them and TOML writes them flat in the section."""

# option(...) returns a dataclasses.field, which ruff cannot see through (it is not a mutable default).
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from scaler.config.checks import existing_file, non_empty
from scaler.config.options import option
from scaler.config.sections.security import CredentialsConfig

LoggingLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoggingConfig(CredentialsConfig):
    """Where and how verbosely a process logs."""

    options_title: ClassVar[str] = "logging options"

    logging_level: LoggingLevel = option("INFO", short="-ll", help="logging verbosity")
    logging_paths: tuple[str, ...] = option(
        ("/dev/stdout",),
        short="-lp",
        metavar="PATH",
        check=non_empty,
        help="where log lines go: /dev/stdout, /dev/stderr or file paths (several allowed)",
    )
    logging_config_file: str | None = option(
        None,
        short="-lcf",
        metavar="FILE",
        check=existing_file,
        help="a Python logging.config.fileConfig file; when given, it replaces the two options above",
    )
