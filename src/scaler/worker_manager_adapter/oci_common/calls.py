"""A thread pool for blocking OCI SDK calls that remembers what it still runs, so that closing can wait for it.

Both OCI managers make their SDK calls off the event loop; on exit they must let the calls in flight finish
(a create still running would leave an instance nobody knows about), then stop taking new ones.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

SDK_THREADS = 8

T = TypeVar("T")


class CallPool:
    def __init__(self, name: str, threads: int = SDK_THREADS) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix=name)
        self._futures: set[concurrent.futures.Future[Any]] = set()
        self._lock = threading.Lock()  # done-callbacks run in pool threads

    def spawn(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(*args)`` in the pool, tracked; a pool already shut down (we are exiting) ignores it."""
        try:
            future = self._pool.submit(function, *args)
        except RuntimeError:
            return
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def map_untracked(self, function: Callable[[Any], T], items: Iterable[Any]) -> list[concurrent.futures.Future[T]]:
        """Submit one call per item and return their futures (for the final deletes, awaited by the caller)."""
        return [self._pool.submit(function, item) for item in items]

    def wait(self, timeout: float) -> set[concurrent.futures.Future[Any]]:
        """Wait up to ``timeout`` seconds for the tracked calls in flight; return those still pending."""
        with self._lock:
            pending = [future for future in self._futures if not future.done()]
        return concurrent.futures.wait(pending, timeout=timeout).not_done

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._futures.discard(future)
