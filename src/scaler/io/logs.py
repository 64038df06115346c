"""The one log line format, and the minimal set-up of the internal processes (workers, processors)."""

from __future__ import annotations

import logging
import time

LOG_FORMAT = "%(asctime)s %(levelname)s scaler[%(process)d]: %(message)s"


class FatalError(Exception):
    """What ends a server process with this one line and exit status 1, without a traceback (a port in use, a
    child it depends on gone). The command-line front ends print it as ``prog: error: <message>``."""


def basic_logging(level: str | int) -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT)


class RateLimitedLog:
    """Warnings about bad input, at most ``burst`` lines per ``interval`` seconds per instance.

    A flood of garbage (a port scanner, a fuzzer, a misconfigured peer) must not turn into a flood of log lines:
    the first few are written as they come, the rest are counted and summed up in the next line written.
    One instance per kind of warning (every sender shares it: a flood from random identities is still one flood).
    """

    def __init__(self, logger: logging.Logger, burst: int = 10, interval: float = 10.0) -> None:
        self._logger = logger
        self._burst = burst
        self._interval = interval
        self._window_start = -float("inf")
        self._written = 0
        self._suppressed = 0

    def warning(self, what: str, detail: str = "") -> None:
        now = time.monotonic()
        if now - self._window_start >= self._interval:
            self._window_start, self._written = now, 0
        if self._written >= self._burst:
            self._suppressed += 1
            return
        self._written += 1
        text = f"{what}: {detail}" if detail else what
        if self._suppressed:
            text += f" ({self._suppressed} similar warning(s) suppressed)"
            self._suppressed = 0
        self._logger.warning("%s", text)
