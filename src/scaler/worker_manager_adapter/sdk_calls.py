"""One thread pool for the blocking cloud-SDK calls of every adapter (AWS ECS, EC2/ORB, Batch, OCI).

Adapters make their SDK calls off the event loop. The pool:

- logs a call that raises (a thread's failure is never lost), naming the adapter and the call;
- backs off when the service says it is throttling (HTTP 429, AWS ``Throttling*``/``RequestLimitExceeded``):
  the next calls wait, doubling from ``BACKOFF_START_SECONDS`` up to ``BACKOFF_MAX_SECONDS``, and the throttling
  is logged once per episode, not once per call;
- tracks the calls in flight, so that closing can wait for them (a create still running would leave an instance
  nobody knows about) before it stops taking new ones.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_THREADS = 8
BACKOFF_START_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
_THROTTLE_CODES = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
                   "TooManyRequests", "SlowDown"}  # fmt: skip


def is_throttling(error: BaseException) -> bool:
    """Whether ``error`` is a service saying "too many requests" (botocore's ClientError, OCI's ServiceError)."""
    if getattr(error, "status", None) == 429:
        return True
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else getattr(error, "code", None)
    return code in _THROTTLE_CODES


class SdkCallPool:
    def __init__(
        self,
        name: str,
        logger: logging.Logger,
        threads: int = DEFAULT_THREADS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self._logger = logger
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix=name)
        self._futures: set[concurrent.futures.Future[Any]] = set()
        self._lock = threading.Lock()  # done-callbacks and calls run in pool threads
        self._clock, self._sleep = clock, sleep
        self._resume_at = 0.0
        self._backoff = 0.0  # 0: not throttled

    def spawn(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(*args)`` in the pool, tracked and guarded; a pool already shut down (we are exiting)
        ignores it."""
        try:
            future = self._pool.submit(self._guarded, function, args)
        except RuntimeError:
            return
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def map_untracked(self, function: Callable[[Any], T], items: Iterable[Any]) -> list[concurrent.futures.Future[T]]:
        """Submit one call per item and return their futures (the caller awaits them and sees their errors)."""
        return [self._pool.submit(function, item) for item in items]

    def wait(self, timeout: float) -> set[concurrent.futures.Future[Any]]:
        """Wait up to ``timeout`` seconds for the tracked calls in flight; return those still pending."""
        with self._lock:
            pending = [future for future in self._futures if not future.done()]
        return concurrent.futures.wait(pending, timeout=timeout).not_done

    def shutdown(self, wait: bool = False) -> None:
        """Stop taking calls; ``wait``: let those queued and running finish first, else drop the queued ones."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def _guarded(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        with self._lock:
            delay = self._resume_at - self._clock()
        if delay > 0:
            self._sleep(delay)
        call = getattr(function, "__name__", repr(function))
        try:
            function(*args)
        except Exception as error:
            if is_throttling(error):
                self._throttled(call, error)
            else:
                self._logger.warning("%s: %s failed: %s", self.name, call, error)
            return
        with self._lock:
            if self._backoff and self._clock() >= self._resume_at:
                self._backoff = 0.0
                self._logger.info("%s: the service accepts calls again", self.name)

    def _throttled(self, call: str, error: Exception) -> None:
        with self._lock:
            first = self._backoff == 0.0
            self._backoff = min(BACKOFF_MAX_SECONDS, self._backoff * 2 or BACKOFF_START_SECONDS)
            self._resume_at = self._clock() + self._backoff
            backoff = self._backoff
        if first:
            self._logger.warning(
                "%s: %s throttled by the service (%s); backing off %gs", self.name, call, error, backoff
            )

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._futures.discard(future)
