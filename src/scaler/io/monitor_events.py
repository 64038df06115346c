"""Reading a ZeroMQ socket monitor's events without ``zmq.utils.monitor``.

pyzmq's helper module imports ``zmq.asyncio`` and so all of asyncio: 15-35 ms of start-up in every process
that watches its connection (worker agents, clients, the scheduler), for a two-field struct. A monitor event
(version 1, what ``Socket.get_monitor_socket`` sets up) is two frames: 6 bytes holding the event number
(uint16) and its value (int32, e.g. an error or protocol code), in the machine's byte order, then the endpoint.
"""

from __future__ import annotations

import struct
from typing import Any

import zmq

_HEADER = struct.Struct("=Hi")


def receive_monitor_event(monitor: zmq.Socket[Any], flags: int = 0) -> tuple[int, int]:
    """(event, value) of the next event on ``monitor``; raises ``zmq.Again`` with ``zmq.NOBLOCK`` when there is none,
    ``ValueError`` for a malformed one."""
    frames = monitor.recv_multipart(flags)
    if len(frames) < 2 or len(frames[0]) != _HEADER.size:
        raise ValueError(f"malformed monitor event: {len(frames)} frame(s)")
    event, value = _HEADER.unpack(frames[0])
    return event, value
