"""The same event-loop interface as ``EventLoop``, run on asyncio (``--event-loop uvloop`` picks uvloop).

The builtin loop (zmq.Poller) is the faster one for Scaler's traffic; this one exists so that a deployment
that standardises on uvloop, or embeds Scaler's components in an asyncio program, can. ZeroMQ exposes an
*edge-triggered* descriptor: after every wake-up and every send, a socket that still has input queued must
be drained explicitly, which ``_poke`` does.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import zmq

from scaler.io.loop import Callback, run_guarded


class AsyncioEventLoop:
    def __init__(self, use_uvloop: bool = False) -> None:
        if use_uvloop:
            import uvloop

            self._loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        else:
            self._loop = asyncio.new_event_loop()
        self._sockets: dict[zmq.Socket[Any], Callback] = {}
        self._after_wake: list[Callback] = []
        self._stopped = asyncio.Event()
        self._wake_scheduled = False

    def add_reader(self, source: zmq.Socket[Any] | int, callback: Callback) -> None:
        if isinstance(source, zmq.Socket):
            self._sockets[source] = callback
            self._loop.add_reader(_fd(source), self._wake)
        else:
            self._loop.add_reader(source, self._guarded(callback))

    def remove_reader(self, source: zmq.Socket[Any] | int) -> None:
        if isinstance(source, zmq.Socket):
            if self._sockets.pop(source, None) is not None:
                self._loop.remove_reader(_fd(source))
        else:
            self._loop.remove_reader(source)

    def call_every(self, interval: float, callback: Callback, first_delay: float | None = None) -> None:
        def tick() -> None:
            self._loop.call_later(interval, tick)
            self._guard(callback)
            self._schedule_wake()

        self._loop.call_later(interval if first_delay is None else first_delay, tick)

    def call_later(self, delay: float, callback: Callback) -> None:
        self._loop.call_later(delay, self._guarded(callback))

    def after_each_wake(self, callback: Callback) -> None:
        self._after_wake.append(callback)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stopped.set)

    def stop_on_signals(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._loop.add_signal_handler(signum, self.stop)

    def run(self) -> None:
        async def main() -> None:
            self._schedule_wake()
            await self._stopped.wait()

        try:
            self._loop.run_until_complete(main())
        finally:
            self._loop.close()

    def _wake(self) -> None:
        self._wake_scheduled = False
        for socket, callback in list(self._sockets.items()):
            if _readable(socket):
                self._guard(callback)
        for callback in self._after_wake:
            self._guard(callback)
        # Sending may have consumed the descriptor's edge while input is still queued: look again.
        if any(_readable(socket) for socket in self._sockets):
            self._schedule_wake()

    def _schedule_wake(self) -> None:
        if not self._wake_scheduled:
            self._wake_scheduled = True
            self._loop.call_soon(self._wake)

    def _guarded(self, callback: Callback) -> Callback:
        def run() -> None:
            self._guard(callback)
            for after in self._after_wake:
                self._guard(after)
            self._schedule_wake()

        return run

    _guard = staticmethod(run_guarded)


def _readable(socket: zmq.Socket[Any]) -> bool:
    return bool(int(socket.getsockopt(zmq.EVENTS)) & zmq.POLLIN)


def _fd(socket: zmq.Socket[Any]) -> int:
    return int(socket.getsockopt(zmq.FD))
