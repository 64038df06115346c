"""ZeroMQ socket construction with the options every Scaler socket wants."""

from __future__ import annotations

import logging
from typing import Any

import zmq

from scaler.io.address import Address
from scaler.protocol import codec

logger = logging.getLogger("scaler.io")

HIGH_WATER_MARK = 0  # unbounded: back-pressure is the scheduler's job (queue sizes), not the transport's


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


def bind_router(context: zmq.Context[Any], address: str, max_message_bytes: int = -1) -> zmq.Socket[Any]:
    Address.parse(address)
    socket: zmq.Socket[Any] = context.socket(zmq.ROUTER)
    _configure(socket, None)
    # A peer that sends an unroutable reply target must not make send() raise: drop it instead.
    socket.setsockopt(zmq.ROUTER_MANDATORY, 0)
    if max_message_bytes > 0:
        socket.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
    try:
        socket.bind(address)
    except zmq.ZMQError as error:
        socket.close()
        raise OSError(f"cannot bind {address}: {error}") from None
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
            logger.warning("dropping message from %s: %s", peer, error)
    return messages
