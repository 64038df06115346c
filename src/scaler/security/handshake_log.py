"""Log the connections a secured server refuses before ZAP sees them (a peer with no keys, or a wrong server
key), as a rate-limited summary: ZeroMQ reports them per connection with the server's own endpoint only, so
there is no peer to name, and a peer that keeps reconnecting must not flood the log."""

from __future__ import annotations

import logging
import time
from typing import Any

import zmq

from scaler.io.loop import Loop
from scaler.io.monitor_events import receive_monitor_event

logger = logging.getLogger("scaler.security")

SUMMARY_EVERY_SECONDS = 60.0
_EVENTS = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL


class HandshakeFailureLog:
    def __init__(self, socket: zmq.Socket[Any], loop: Loop, what: str) -> None:
        self._what = what
        self._monitor = socket.get_monitor_socket(_EVENTS)
        self._counts: dict[str, int] = {}
        self._last_logged = -SUMMARY_EVERY_SECONDS
        loop.add_reader(self._monitor, self._on_event)
        loop.call_every(SUMMARY_EVERY_SECONDS, self.flush)

    def _on_event(self) -> None:
        for _ in range(100):
            try:
                _, value = receive_monitor_event(self._monitor, zmq.NOBLOCK)
            except (zmq.Again, zmq.ZMQError, ValueError):  # drained (or closed)
                break
            if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
                kind = "without credentials"
            else:
                kind = "that failed the security handshake (wrong scheduler key, or not ZeroMQ)"
            self._counts[kind] = self._counts.get(kind, 0) + 1
        if time.monotonic() - self._last_logged >= SUMMARY_EVERY_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self._counts:
            return
        self._last_logged = time.monotonic()
        counts, self._counts = self._counts, {}
        for kind, count in counts.items():
            logger.warning("%s refused %d connection(s) %s", self._what, count, kind)

    def close(self) -> None:
        self._monitor.close(linger=0)
