"""The one log line format, and the minimal set-up of the internal processes (workers, processors)."""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s scaler[%(process)d]: %(message)s"


def basic_logging(level: str | int) -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT)
