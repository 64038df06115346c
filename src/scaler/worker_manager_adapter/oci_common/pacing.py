"""Retrying without hammering, and reporting without flooding (pure: no I/O besides the logger).

A throttled tenancy (HTTP 429) or an instance that fails at once would otherwise make a manager retry in a
tight loop and write the same warning every half second. ``Backoff`` spaces attempts out exponentially (with
jitter, so that many managers do not retry in step); ``OnceLog`` logs a recurring failure once, with the
service's own message, and logs again when it clears.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable


class Backoff:
    def __init__(
        self, initial: float = 2.0, maximum: float = 300.0, jitter: Callable[[], float] = random.random
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self._jitter = jitter
        self.failures = 0
        self._not_before = 0.0

    def ready(self, now: float) -> bool:
        return now >= self._not_before

    def wait_seconds(self, now: float) -> float:
        return max(0.0, self._not_before - now)

    def failure(self, now: float) -> float:
        """Record a failure at ``now``; returns the delay before the next attempt."""
        delay: float = min(self.maximum, self.initial * 2.0**self.failures)
        delay *= 0.75 + 0.5 * self._jitter()  # +-25 %
        self.failures += 1
        self._not_before = now + delay
        return delay

    def success(self) -> None:
        self.failures = 0
        self._not_before = 0.0


class OnceLog:
    """Log each kind of recurring failure once (WARNING), repeats at DEBUG, and its recovery (INFO)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._failing: dict[str, int] = {}
        self._lock = threading.Lock()

    def failed(self, kind: str, message: str) -> None:
        with self._lock:
            count = self._failing.get(kind, 0) + 1
            self._failing[kind] = count
        if count == 1:
            self._logger.warning("%s (retrying with back-off; repeats are logged at debug level)", message)
        else:
            self._logger.debug("%s (failure %d)", message, count)

    def recovered(self, kind: str, what: str) -> None:
        with self._lock:
            count = self._failing.pop(kind, 0)
        if count:
            self._logger.info("%s succeeded again after %d failure(s)", what, count)
