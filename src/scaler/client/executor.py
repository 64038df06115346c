"""``client.executor()``: a ``concurrent.futures.Executor`` for libraries that take one instead of a client.

    with Client(address=...) as client, client.executor() as executor:
        list(executor.map(abs, [-1, -2, 3]))   # [1, 2, 3]

The executor borrows the client: ``shutdown()`` waits for (or cancels) the tasks submitted through it and
refuses new ones, but leaves the client connected, because the client may be shared with other code. Its
futures are the client's ``ScalerFuture``s, so ``profiling_info()`` and remote cancel still work.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from scaler.client.future import ScalerFuture

if TYPE_CHECKING:
    from scaler.client.client import Client


class ScalerExecutor(concurrent.futures.Executor):
    """A ``concurrent.futures.Executor`` whose ``submit`` and ``map`` run on the cluster (``Client.executor()``).

    Its ``shutdown`` waits for (or cancels) the tasks it submitted and leaves the client open.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._unfinished: set[ScalerFuture] = set()
        self._shut_down = False

    @property
    def client(self) -> Client:
        return self._client

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> ScalerFuture:
        with self._lock:
            self._check_accepting()
            future = self._client.submit(fn, *args, **kwargs)
            self._unfinished.add(future)
        future.add_done_callback(self._forget)
        return future

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        buffersize: int | None = None,
    ) -> Generator[Any, None, None]:
        """``Executor.map``: results in input order, yielded as they are needed.

        Tasks are sent at once, in batches (``chunksize`` is accepted and ignored: batching is automatic), or
        at most ``buffersize`` ahead of the consumer. ``timeout`` counts from this call; past it, ``next()``
        raises ``TimeoutError``. Leaving the iteration early cancels the tasks not yet consumed.
        """
        if buffersize is not None and buffersize < 1:
            raise ValueError("buffersize must be None or > 0")
        deadline = None if timeout is None else time.monotonic() + timeout
        arguments = zip(*iterables, strict=False)
        first = arguments if buffersize is None else itertools.islice(arguments, buffersize)
        futures = deque(self._submit_many(fn, first))
        return self._results_in_order(fn, futures, arguments if buffersize is not None else None, deadline)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new tasks; ``cancel_futures`` cancels unfinished ones (running ones too: they can be stopped).

        The client stays connected: it belongs to whoever created it.
        """
        with self._lock:
            self._shut_down = True
            unfinished = list(self._unfinished)
        if cancel_futures:
            for future in unfinished:
                future.cancel(timeout=0)  # send every request first, then wait for the answers together
        if wait:
            concurrent.futures.wait(unfinished)

    # --- internals ---------------------------------------------------------------------------------------------

    def _submit_many(self, fn: Callable[..., Any], arguments: Iterable[tuple[Any, ...]]) -> list[ScalerFuture]:
        with self._lock:
            self._check_accepting()
            futures = self._client.submit_many(fn, arguments)
            self._unfinished.update(futures)
        for future in futures:
            future.add_done_callback(self._forget)
        return futures

    def _results_in_order(
        self,
        fn: Callable[..., Any],
        futures: deque[ScalerFuture],
        more_arguments: Iterator[tuple[Any, ...]] | None,
        deadline: float | None,
    ) -> Generator[Any, None, None]:
        try:
            while futures:
                future = futures.popleft()
                if more_arguments is not None:  # keep the buffer full before waiting on the oldest task
                    futures.extend(self._submit_many(fn, itertools.islice(more_arguments, 1)))
                try:
                    yield future.result(None if deadline is None else deadline - time.monotonic())
                except BaseException:
                    future.cancel(timeout=0)
                    raise
        finally:
            for future in futures:  # the consumer stopped early or a task failed: the rest is not wanted
                future.cancel(timeout=0)

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        assert isinstance(future, ScalerFuture)  # only ours are registered; this narrows the stdlib's callback type
        with self._lock:
            self._unfinished.discard(future)

    def _check_accepting(self) -> None:
        if self._shut_down:
            raise RuntimeError("cannot schedule new futures after shutdown")
