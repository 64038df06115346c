"""A small single-threaded event loop over ZeroMQ sockets, file descriptors and timers.

Every long-running process (scheduler, object storage, worker agent, worker manager, the client's I/O
thread) is one of these loops around a sans-I/O core. It is deliberately plain: ``zmq.Poller`` plus a
timer list is several times faster per message than asyncio with pyzmq's asyncio sockets, and the hot
path of a task system is exactly "many tiny messages".

Readers are called once per wake-up and are expected to drain their socket (non-blocking) so that
messages that arrived together are handled, and answered, together.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any, Protocol

import zmq

logger = logging.getLogger("scaler.io")

Callback = Callable[[], None]


class Loop(Protocol):
    """What every process's shell needs from its event loop (``EventLoop`` or ``AsyncioEventLoop``)."""

    def add_reader(self, source: zmq.Socket[Any] | int, callback: Callback) -> None: ...
    def remove_reader(self, source: zmq.Socket[Any] | int) -> None: ...
    def call_every(self, interval: float, callback: Callback, first_delay: float | None = None) -> None: ...
    def call_later(self, delay: float, callback: Callback) -> None: ...
    def after_each_wake(self, callback: Callback) -> None: ...
    def stop(self) -> None: ...
    def stop_on_signals(self) -> None: ...
    def run(self) -> None: ...


def run_guarded(callback: Callback) -> None:
    """Run one handler of a loop: one that fails must not take the process down, so it is logged and the loop goes
    on serving everyone else."""
    try:
        callback()
    except Exception:
        logger.exception("unhandled error in %s", getattr(callback, "__qualname__", callback))


class EventLoop:
    def __init__(self) -> None:
        self._poller = zmq.Poller()
        self._readers: dict[Any, Callback] = {}
        self._timers: list[tuple[float, int, float, Callback]] = []  # (due, seq, interval, callback)
        self._sequence = itertools.count()
        self._after_wake: list[Callback] = []
        self._before_sleep: list[Callback] = []
        self._running = False

    def add_reader(self, source: zmq.Socket[Any] | int, callback: Callback) -> None:
        self._poller.register(source, zmq.POLLIN)
        self._readers[source] = callback

    def remove_reader(self, source: zmq.Socket[Any] | int) -> None:
        if source in self._readers:
            self._poller.unregister(source)
            del self._readers[source]

    def call_every(self, interval: float, callback: Callback, first_delay: float | None = None) -> None:
        due = time.monotonic() + (interval if first_delay is None else first_delay)
        heapq.heappush(self._timers, (due, next(self._sequence), interval, callback))

    def call_later(self, delay: float, callback: Callback) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._sequence), 0.0, callback))

    def after_each_wake(self, callback: Callback) -> None:
        """Run ``callback`` after all readers of a wake-up have run: the place to flush batched output."""
        self._after_wake.append(callback)

    def before_sleep(self, callback: Callback) -> None:
        """Run ``callback`` just before each wait for input, once readers and timers are done (see
        ``scaler.client.future.defer_wakes``)."""
        self._before_sleep.append(callback)

    def stop(self) -> None:
        self._running = False

    def stop_on_signals(self) -> None:
        def handler(signum: int, _frame: object) -> None:
            logger.info("received %s, stopping", signal.Signals(signum).name)
            self.stop()

        # The kernel writes a byte to this pipe when a signal arrives, which wakes poll() at once (otherwise a
        # stop would wait for the next timer, up to a second).
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        self.add_reader(wake_read, lambda: _drain(wake_read))
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def run(self) -> None:
        self._running = True
        while self._running:
            timeout_ms = self._run_due_timers()
            if not self._running:
                break
            for prepare in self._before_sleep:
                self._guard(prepare)
            try:
                events = self._poller.poll(timeout_ms)
            except zmq.ZMQError as error:
                if error.errno == errno.EINTR:
                    continue
                raise
            for source, _ in events:
                callback = self._readers.get(source)
                if callback is not None:
                    self._guard(callback)
            for callback in self._after_wake:
                self._guard(callback)

    def _run_due_timers(self) -> int:
        # Each timer due at this instant runs once; a periodic one that overran its interval is next due one
        # interval after it returned. (Rescheduling from the time before it ran made a tick slower than its
        # interval due again at once, forever: sockets were never polled and every peer timed out.)
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            due, seq, interval, callback = heapq.heappop(self._timers)
            self._guard(callback)
            if interval > 0:
                heapq.heappush(self._timers, (max(due + interval, time.monotonic()), seq, interval, callback))
        now = time.monotonic()
        if not self._timers:
            return 1000
        return max(0, min(1000, int((self._timers[0][0] - now) * 1000) + 1))

    _guard = staticmethod(run_guarded)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def make_event_loop(name: str = "builtin") -> Loop:
    """``builtin`` (zmq.Poller, the default and the fastest), ``asyncio``, or ``uvloop``."""
    if name == "builtin":
        return EventLoop()
    from scaler.io.asyncio_loop import AsyncioEventLoop

    if name not in ("asyncio", "uvloop"):
        raise ValueError(f"unknown event loop {name!r}: expected builtin, asyncio or uvloop")
    return AsyncioEventLoop(use_uvloop=name == "uvloop")
