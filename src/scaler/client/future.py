"""ScalerFuture: a ``concurrent.futures.Future`` for one task, cheap enough to hold a million of.

The stdlib's ``Future.__init__`` builds a ``threading.Condition`` (a lock, a deque and bound methods) and two
lists for every future: about 2.5 KB, most of a pending task's cost in the client. A ScalerFuture has a plain
lock and creates its Condition, its waiter list and its callback list only when something needs them
(``concurrent.futures.wait``/``as_completed`` registers, a callback is added; a thread blocked in ``result()``
sleeps on a lock of its own), so a pending future costs a few hundred bytes (bench/backpressure.py measures
it). Everything else is the stdlib's contract, kept exactly: the same state names and transitions (``wait`` and
``as_completed`` read them), ``_condition`` and ``_waiters`` for those two functions, callbacks called once in
order, asyncio's ``wrap_future``. A submitted future stays PENDING (not RUNNING) until it ends: that is what lets
a confirmed remote cancel move it to CANCELLED.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Generator
from concurrent.futures import _base
from dataclasses import dataclass
from typing import Any

from scaler.protocol import messages as m

logger = logging.getLogger("scaler.client")

_PENDING, _RUNNING, _FINISHED = _base.PENDING, _base.RUNNING, _base.FINISHED
_CANCELLED, _NOTIFIED = _base.CANCELLED, _base.CANCELLED_AND_NOTIFIED  # NOTIFIED: wait() waiters were told
_CANCELLED_STATES = (_CANCELLED, _NOTIFIED)
_DONE_STATES = (_CANCELLED, _NOTIFIED, _FINISHED)


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

    __slots__ = (
        "_callbacks",
        "_cond",
        "_exception",
        "_lock",
        "_profile",
        "_request_cancel",
        "_result",
        "_sleepers",
        "_state",
        "_task_id",
        "_waiter_list",
        "keeps_result_object",
    )  # fmt: skip

    def __init__(self, task_id: bytes, request_cancel: Callable[[ScalerFuture], None]) -> None:
        """Made by the client for each task it sends; ``request_cancel`` asks the scheduler to cancel it."""
        # Deliberately not super().__init__(): see the module's doc. These are the attributes it would set.
        self._task_id = task_id
        self._request_cancel = request_cancel
        self._profile: m.Profile | None = None
        self.keeps_result_object = False  # graph nodes: the client deletes result objects when the graph ends
        self._state = _PENDING
        self._result: Any = None
        self._exception: BaseException | None = None
        self._lock = threading.Lock()  # guards the state; the Condition, once made, is built on it
        self._cond: threading.Condition | None = None
        self._waiter_list: list[Any] | None = None
        self._sleepers: list[Any] | None = None  # a lock per thread blocked in result(): see _wait
        self._callbacks: list[Callable[[concurrent.futures.Future[Any]], object]] | None = None

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
        self._wait(timeout)  # the scheduler's answer ends the future: cancelled, or finished after all
        return self.cancelled()

    def __await__(self) -> Generator[Any, None, Any]:
        """``await future`` in asyncio: the result, or the exception raised."""
        return asyncio.wrap_future(self).__await__()

    # --- the concurrent.futures.Future interface, without a Condition until someone waits ---------------------

    # The stdlib's two are plain attributes; wait() and as_completed() lock _condition and register in _waiters.
    @property
    def _condition(self) -> threading.Condition:  # type: ignore[override]
        cond = self._cond
        if cond is None:
            with self._lock:
                if self._cond is None:
                    self._cond = threading.Condition(self._lock)
                cond = self._cond
        return cond

    @property
    def _waiters(self) -> list[Any]:  # type: ignore[override]  # only read while _condition is held
        if self._waiter_list is None:
            self._waiter_list = []
        return self._waiter_list

    def cancelled(self) -> bool:
        """True if the task was cancelled before it finished."""
        return self._state in _CANCELLED_STATES

    def running(self) -> bool:
        """False for task futures in practice: the client is not told when a worker starts a task."""
        return self._state == _RUNNING

    def done(self) -> bool:
        """True once the task has a result, an exception, or was cancelled."""
        return self._state in _DONE_STATES

    def result(self, timeout: float | None = None) -> Any:
        """The task's value; raises its exception, ``CancelledError``, or ``TimeoutError`` after ``timeout`` s."""
        self._wait_finished(timeout)
        if self._exception is not None:
            try:
                raise self._exception
            finally:
                self = None  # type: ignore[assignment]  # break the cycle through the traceback, as the stdlib does
        return self._result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The task's exception (None if it succeeded); waits like ``result``."""
        self._wait_finished(timeout)
        return self._exception

    def _wait_finished(self, timeout: float | None) -> None:
        """Wait until the task ends; CancelledError if it was cancelled, TimeoutError if it is still running."""
        if self._state not in _DONE_STATES:
            self._wait(timeout)
        state = self._state
        if state in _CANCELLED_STATES:
            raise concurrent.futures.CancelledError()
        if state != _FINISHED:
            raise TimeoutError()

    def add_done_callback(self, fn: Callable[[concurrent.futures.Future[Any]], object]) -> None:
        """Call ``fn(future)`` when the task ends (at once if it already has), on the client's I/O thread."""
        with self._lock:
            if self._state not in _DONE_STATES:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        try:
            fn(self)
        except Exception:
            logger.exception("exception calling callback for %r", self)

    def set_running_or_notify_cancel(self) -> bool:
        """Part of the ``concurrent.futures.Future`` protocol for executors; not used for tasks."""
        with self._lock:
            if self._state == _CANCELLED:
                self._state = _NOTIFIED
                for waiter in self._waiter_list or ():
                    waiter.add_cancelled(self)
                return False
            if self._state == _PENDING:
                self._state = _RUNNING
                return True
        raise RuntimeError("Future in unexpected state")

    def set_result(self, result: Any) -> None:
        """Complete the future with a value (the client does this when the result arrives)."""
        self._settle(result, None)

    def set_exception(self, exception: BaseException | None) -> None:
        """Complete the future with an exception (the client does this when the task fails)."""
        self._settle(None, exception)

    def __repr__(self) -> str:
        state = _base._STATE_TO_DESCRIPTION_MAP[self._state]
        if self._state == _FINISHED:
            exception = self._exception
            outcome = f"raised {type(exception).__name__}" if exception else f"returned {type(self._result).__name__}"
            return f"<{type(self).__name__} at {id(self):#x} state={state} {outcome}>"
        return f"<{type(self).__name__} at {id(self):#x} state={state}>"

    def _settle(self, result: Any, exception: BaseException | None) -> None:
        with self._lock:
            if self._state in _DONE_STATES:
                raise concurrent.futures.InvalidStateError(f"{self._state}: {self!r}")
            self._result, self._exception, self._state = result, exception, _FINISHED
            for waiter in self._waiter_list or ():
                if exception is not None:
                    waiter.add_exception(self)
                else:
                    waiter.add_result(self)
            sleepers = self._notify()
        _wake(sleepers)
        self._invoke_callbacks()

    def _invoke_callbacks(self) -> None:
        callbacks, self._callbacks = self._callbacks, None  # each is called once; the list is freed
        for callback in callbacks or ():
            try:
                callback(self)
            except Exception:
                logger.exception("exception calling callback for %r", self)

    def _wait(self, timeout: float | None) -> None:
        # Each blocked thread sleeps on a lock of its own, released after the settling thread has let go of the
        # future's lock. (Woken by a Condition, it found that lock still held and slept again at once: one more
        # pair of context switches per result, about 100 us of wall time on a busy machine.)
        with self._lock:
            if self._state in _DONE_STATES:
                return
            sleeper = threading.Lock()
            sleeper.acquire()
            if self._sleepers is None:
                self._sleepers = []
            self._sleepers.append(sleeper)
        if sleeper.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            return
        with self._lock:  # timed out: it no longer waits (unless the settling thread took it already)
            if self._sleepers is not None and sleeper in self._sleepers:
                self._sleepers.remove(sleeper)

    def _notify(self) -> list[Any]:
        """Tell ``wait``'s Condition (under the future's lock, which the caller holds); returns the sleepers of
        ``_wait`` to release once the caller has let go of it."""
        if self._cond is not None:
            self._cond.notify_all()
        sleepers, self._sleepers = self._sleepers, None
        return sleepers or []

    # --- called by the client's I/O thread ---------------------------------------------------------------------

    def _finish_cancelled(self) -> None:
        """The scheduler confirmed the cancel (or the client closed): CANCELLED, waiters told at once."""
        with self._lock:
            if self._state in _DONE_STATES:
                return
            self._state = _NOTIFIED
            for waiter in self._waiter_list or ():
                waiter.add_cancelled(self)
            sleepers = self._notify()
        _wake(sleepers)
        self._invoke_callbacks()

    def _finish(self, value: Any = None, error: BaseException | None = None, profile: m.Profile | None = None) -> None:
        if self.done():
            return
        self._profile = profile
        try:
            self._settle(value, error)
        except concurrent.futures.InvalidStateError:
            pass  # lost a race against a local cancel: the first outcome stands


class _DeferredWakes(threading.local):
    pending: list[Any] | None = None  # set in a thread that defers its wakes (the client's I/O thread)


_deferred = _DeferredWakes()


def defer_wakes() -> Callable[[], None]:
    """From now on, the threads blocked in ``result()`` that the calling thread's settles would wake are woken when
    the returned function is called: the client's I/O thread calls it just before it sleeps. A thread woken earlier
    would only wait for the GIL, which the I/O thread holds until then (one more pair of context switches, and
    the I/O thread's remaining work on the result's critical path). ``stop_deferring`` ends it."""
    pending: list[Any] = []
    _deferred.pending = pending

    def release() -> None:
        for sleeper in pending:
            sleeper.release()
        pending.clear()

    return release


def stop_deferring(release: Callable[[], None]) -> None:
    """Wake what ``defer_wakes`` holds, and wake at once from now on."""
    release()
    _deferred.pending = None


def _wake(sleepers: list[Any]) -> None:
    pending = _deferred.pending
    if pending is not None:
        pending.extend(sleepers)
        return
    for sleeper in sleepers:
        sleeper.release()
