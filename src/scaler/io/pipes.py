"""Length-prefixed frames over a pair of OS pipes: the agent <-> processor channel.

A pipe costs one write and one read per message. A zmq socket on the same path would add two hops
through zmq's I/O threads on each side, which on a task's round trip (two such hops) is measurable latency.
A pipe also reports its writer's death as end-of-file, for free.
"""

from __future__ import annotations

import os
import struct

_HEADER = struct.Struct("!I")


class PipeClosed(EOFError):
    pass


def write_frame(fd: int, payload: bytes) -> None:
    """Blocking write of one frame (the reader drains promptly, so this only waits for large frames)."""
    data = memoryview(_HEADER.pack(len(payload)) + payload)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_frame(fd: int) -> bytes:
    """Blocking read of one frame; PipeClosed at end-of-file."""
    (length,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size))
    return _read_exactly(fd, length)


def _read_exactly(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise PipeClosed("pipe closed")
        chunks.append(chunk)
        size -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class FrameReader:
    """Non-blocking reader for an event loop: ``feed()`` when the fd is readable, then take whole frames."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self._buffer = bytearray()
        self.closed = False

    def feed(self) -> list[bytes]:
        while True:
            try:
                chunk = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                self.closed = True
                break
            self._buffer += chunk
            if len(chunk) < (1 << 20):
                break
        frames: list[bytes] = []
        buffer = self._buffer
        offset = 0
        while len(buffer) - offset >= _HEADER.size:
            (length,) = _HEADER.unpack_from(buffer, offset)
            end = offset + _HEADER.size + length
            if len(buffer) < end:
                break
            frames.append(bytes(buffer[offset + _HEADER.size : end]))
            offset = end
        if offset:
            del buffer[:offset]
        return frames
