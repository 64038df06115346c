"""Configure the ``scaler`` logger from the logging options every command takes."""

from __future__ import annotations

import logging
import logging.config
import sys
from collections.abc import Sequence

from scaler.config.sections.logging_options import LoggingConfig
from scaler.io.logs import LOG_FORMAT

# Handlers this module installed, marked so that a second call replaces them instead of doubling every line.
_OWNED_MARK = "_scaler_log_setup"


def setup_logging(level: str, paths: Sequence[str], config_file: str | None) -> None:
    """Send the ``scaler`` logger's records at ``level`` and above to ``paths``.

    ``/dev/stdout`` and ``/dev/stderr`` write to the process's streams (so they work where those device files do
    not exist); any other path is a file, appended to. ``config_file`` (a ``logging.config.fileConfig`` file)
    replaces all of this when given. Records do not propagate to the root logger: an application that embeds
    scaler and configures the root logger would otherwise print every line twice.
    """
    if config_file is not None:
        logging.config.fileConfig(config_file, disable_existing_loggers=False)
        return
    logger = logging.getLogger("scaler")
    for handler in list(logger.handlers):
        if getattr(handler, _OWNED_MARK, False):
            logger.removeHandler(handler)
            handler.close()
    formatter = logging.Formatter(LOG_FORMAT)
    for path in paths:
        handler = _handler_for(path)
        handler.setFormatter(formatter)
        setattr(handler, _OWNED_MARK, True)
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


def _handler_for(path: str) -> logging.Handler:
    if path == "/dev/stdout":
        return logging.StreamHandler(sys.stdout)
    if path == "/dev/stderr":
        return logging.StreamHandler(sys.stderr)
    return logging.FileHandler(path)


def setup_logging_from(config: LoggingConfig) -> None:
    """``setup_logging`` with a section's ``logging_*`` fields."""
    setup_logging(config.logging_level, config.logging_paths, config.logging_config_file)
