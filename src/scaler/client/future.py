"""ScalerFuture: a ``concurrent.futures.Future`` for one task.

State changes only through the stdlib's own methods (``set_result``, ``set_exception``, ``cancel`` followed
by ``set_running_or_notify_cancel``), so ``concurrent.futures.wait`` and ``as_completed`` see exactly what
they expect. A submitted future stays PENDING (not RUNNING) until it ends: that is what lets a confirmed
remote cancel move it to CANCELLED through the public ``cancel()``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from scaler.protocol import messages as m


@dataclass(frozen=True)
class ProfileResult:
    """What ``ScalerFuture.profiling_info()`` returns: wall time and CPU time in seconds, peak memory in bytes."""

    duration_s: float
    memory_peak: int
    cpu_time_s: float


class ScalerFuture(concurrent.futures.Future[Any]):
    """The future of one task: a ``concurrent.futures.Future`` with remote cancel, profiling and ``await``.

    ``result(timeout)`` returns the task's value, or raises its exception (with the remote traceback) or a
    ``scaler.errors.TaskError`` saying why there is no result. It works with ``concurrent.futures.wait`` and
    ``as_completed``, and ``await future`` works in asyncio. Futures are created by ``Client.submit`` and friends,
    never directly.
    """

    def __init__(self, task_id: bytes, request_cancel: Callable[[ScalerFuture], None]) -> None:
        """Made by the client for each task it sends; ``request_cancel`` asks the scheduler to cancel it."""
        super().__init__()
        self._task_id = task_id
        self._request_cancel = request_cancel
        self._profile: m.Profile | None = None
        self._cancel_answered = threading.Event()
        self.keeps_result_object = False  # graph nodes: the client deletes result objects when the graph ends

    @property
    def task_id(self) -> bytes:
        """The task's id (as ``scaler_top`` and ``scaler_gui`` show it, in hex)."""
        return self._task_id

    def profiling_info(self) -> ProfileResult:
        """Duration, CPU time and peak memory of the task, when submitted with ``Client(profiling=True)``."""
        if self._profile is None:
            if not self.done():
                raise ValueError("profiling info is available once the task has finished")
            raise ValueError("the task was not profiled: create the client with profiling=True")
        return ProfileResult(self._profile.duration_s, self._profile.memory_peak_bytes, self._profile.cpu_time_s)

    def cancel(self, timeout: float | None = 30.0) -> bool:
        """Cancel the task, on its worker too; True if it is cancelled, False if it had already finished.

        Blocks until the scheduler confirms, at most ``timeout`` seconds (``None``: no limit); a task already
        running is stopped by restarting its worker's processor.
        """
        if self.done():
            return self.cancelled()
        self._request_cancel(self)
        self._cancel_answered.wait(timeout)
        return self.cancelled()

    def __await__(self) -> Generator[Any, None, Any]:
        """``await future`` in asyncio: the result, or the exception raised."""
        return asyncio.wrap_future(self).__await__()

    # --- called by the client's I/O thread ---------------------------------------------------------------------

    def _finish_cancelled(self) -> None:
        if concurrent.futures.Future.cancel(self):
            self.set_running_or_notify_cancel()  # wakes wait()/as_completed() waiters, as executors do
        self._cancel_answered.set()

    def _finish(self, value: Any = None, error: BaseException | None = None, profile: m.Profile | None = None) -> None:
        if self.done():
            return
        self._profile = profile
        try:
            if error is not None:
                self.set_exception(error)
            else:
                self.set_result(value)
        except concurrent.futures.InvalidStateError:
            pass  # lost a race against a local cancel: the first outcome stands
        self._cancel_answered.set()
