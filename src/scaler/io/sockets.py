"""ZeroMQ socket construction with the options every Scaler socket wants."""

from __future__ import annotations

import logging
from typing import Any

import zmq

from scaler.io.address import Address
from scaler.io.logs import FatalError, RateLimitedLog
from scaler.protocol import codec

logger = logging.getLogger("scaler.io")

HIGH_WATER_MARK = 0  # unbounded: back-pressure is the scheduler's job (queue sizes), not the transport's
_drop_log = RateLimitedLog(logger)


class BindError(FatalError, OSError):
    """An address could not be bound (in use, not local, no permission): the message names it, in one line."""


def bind_socket(socket: zmq.Socket[Any], address: str) -> None:
    """``socket.bind(address)``, closing the socket and raising ``BindError`` naming the address on failure."""
    try:
        socket.bind(address)
    except zmq.ZMQError as error:
        socket.close(linger=0)
        raise BindError(f"cannot bind {address}: {zmq.strerror(error.errno or 0)}") from None


def _configure(socket: zmq.Socket[Any], identity: bytes | None) -> None:
    socket.setsockopt(zmq.LINGER, 0)
    # Peers often start together (a combo, the `scaler` launcher): retry a refused connection after 10 ms
    # rather than zmq's default 100 ms, backing off to 1 s so that a dead endpoint is not hammered.
    socket.setsockopt(zmq.RECONNECT_IVL, 10)
    socket.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
    socket.setsockopt(zmq.SNDHWM, HIGH_WATER_MARK)
    socket.setsockopt(zmq.RCVHWM, HIGH_WATER_MARK)
    if identity is not None:
        socket.setsockopt(zmq.IDENTITY, identity)


def bind_router(
    context: zmq.Context[Any], address: str, max_message_bytes: int = -1, inbound_high_water_mark: int = 0
) -> zmq.Socket[Any]:
    """A ROUTER bound at ``address``. ``inbound_high_water_mark`` > 0: messages queued per sender before zmq stops
    reading that sender's connection, which pushes back on it (TCP flow control) instead of buffering without end."""
    Address.parse(address)
    socket: zmq.Socket[Any] = context.socket(zmq.ROUTER)
    _configure(socket, None)
    if inbound_high_water_mark > 0:
        socket.setsockopt(zmq.RCVHWM, inbound_high_water_mark)
    # A peer that sends an unroutable reply target must not make send() raise: drop it instead.
    socket.setsockopt(zmq.ROUTER_MANDATORY, 0)
    if max_message_bytes > 0:
        socket.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
    bind_socket(socket, address)
    return socket


def connect_dealer(context: zmq.Context[Any], address: str, identity: bytes) -> zmq.Socket[Any]:
    socket = new_dealer(context, address, identity)
    socket.connect(address)
    return socket


def new_dealer(context: zmq.Context[Any], address: str, identity: bytes) -> zmq.Socket[Any]:
    """A configured DEALER for ``address``, not yet connected (so that a monitor can see its first connect)."""
    Address.parse(address)
    socket: zmq.Socket[Any] = context.socket(zmq.DEALER)
    _configure(socket, identity)
    return socket


def receive_messages(socket: zmq.Socket[Any], peer: str, limit: int = 2000) -> list[Any]:
    """Every message waiting on a DEALER (up to ``limit`` frames), without blocking. A frame that does not
    decode is logged with ``peer`` and dropped: the caller keeps serving."""
    messages: list[Any] = []
    for _ in range(limit):
        try:
            frame = socket.recv(zmq.NOBLOCK)
        except zmq.Again:
            break
        try:
            messages.extend(codec.decode(frame))
        except codec.DecodeError as error:
            _drop_log.warning(f"dropping message from {peer}", str(error))
    return messages
