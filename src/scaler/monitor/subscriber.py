"""Subscribe to a scheduler's monitor address and decode the statuses it publishes."""

from __future__ import annotations

import logging
import time
from typing import Any

import zmq

from scaler.io.sockets import secure_client
from scaler.protocol.status import SchedulerStatus, StatusDecodeError, decode_status

logger = logging.getLogger("scaler.monitor")


def configure_subscriber(socket: zmq.Socket[Any], address: str, *, latest_only: bool) -> None:
    """Set up a SUB ``socket`` (sync or asyncio) for the monitor stream and connect it.

    ``latest_only`` keeps just the newest status (ZMQ_CONFLATE): right for a view that only draws the
    present, wrong for one that accumulates the per-status task events.
    """
    socket.setsockopt(zmq.LINGER, 0)
    if latest_only:
        socket.setsockopt(zmq.CONFLATE, 1)  # must precede connect()
    socket.setsockopt(zmq.SUBSCRIBE, b"")
    secure_client(socket, address)  # a secured monitor stream admits admins only
    socket.connect(address)


_WARN_EVERY_SECONDS = 60.0
_last_warning: dict[str, tuple[float, int]] = {}  # address -> (when last logged, messages ignored since)


def decode_or_none(frame: bytes, address: str) -> SchedulerStatus | None:
    """The status in ``frame``, or None (logged) when it is not one: a bad frame never stops a monitor.

    Warnings are rate-limited per address: something else publishing there would otherwise fill the log.
    """
    try:
        return decode_status(frame)
    except StatusDecodeError as error:
        now = time.monotonic()
        last, ignored = _last_warning.get(address, (-_WARN_EVERY_SECONDS, 0))
        if now - last >= _WARN_EVERY_SECONDS:
            more = f" ({ignored} more ignored since the last warning)" if ignored else ""
            logger.warning("ignoring a message from %s: %s%s", address, error, more)
            _last_warning[address] = (now, 0)
        else:
            _last_warning[address] = (last, ignored + 1)
        return None


class StatusSubscriber:
    """A blocking subscriber for terminal tools: ``receive(timeout)`` and ``latest()``."""

    def __init__(self, address: str, *, latest_only: bool = True) -> None:
        self.address = address
        self._context: zmq.Context[Any] = zmq.Context()
        self.socket: zmq.Socket[Any] = self._context.socket(zmq.SUB)
        configure_subscriber(self.socket, address, latest_only=latest_only)

    def receive(self, timeout: float) -> SchedulerStatus | None:
        """The next valid status, or None if none arrives within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.socket.poll(max(1, int(left * 1000))):
                return None
            status = decode_or_none(self.socket.recv(), self.address)
            if status is not None:
                return status

    def latest(self) -> SchedulerStatus | None:
        """The newest valid status waiting on the socket, without blocking; None when there is none."""
        newest = None
        while True:
            try:
                frame = self.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return newest
            newest = decode_or_none(frame, self.address) or newest

    def close(self) -> None:
        self.socket.close(linger=0)
        self._context.term()

    def __enter__(self) -> StatusSubscriber:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
