"""Length-prefixed frames over a pair of OS pipes: the agent <-> processor channel.

A pipe costs one write and one read per message. A zmq socket on the same path would add two hops
through zmq's I/O threads on each side, which on a task's round trip (two such hops) is measurable latency.
A pipe also reports its writer's death as end-of-file, for free.
"""

from __future__ import annotations

import fcntl
import os
import struct
import tempfile
from typing import IO

_HEADER = struct.Struct("!I")
_READ_BYTES = 64 * 1024


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
                # A pipe's capacity at a time: os.read allocates what it is asked for first, and 1 MB came from
                # mmap (a map, a remap and an unmap for every result of a few hundred bytes).
                chunk = os.read(self.fd, _READ_BYTES)
            except BlockingIOError:
                break
            if not chunk:
                self.closed = True
                break
            self._buffer += chunk
            if len(chunk) < _READ_BYTES:
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


class ClaimLock:
    """A lock shared by the agent and one processor, held by the processor while it takes its next task from the
    pipe, and by the agent while it decides which of the tasks it sent ahead are still untaken (and writes the
    processor skips for those): see worker/agent/core.py. A POSIX record lock on an anonymous file, whose
    descriptor the processor inherits: such locks exclude other processes even through a shared descriptor."""

    def __init__(self, fd: int, file: IO[bytes] | None = None) -> None:
        self.fd = fd
        self._file = file  # the creator's: the file lives as long as this

    @classmethod
    def create(cls) -> ClaimLock:
        file = tempfile.TemporaryFile()
        return cls(file.fileno(), file)

    def __enter__(self) -> ClaimLock:
        fcntl.lockf(self.fd, fcntl.LOCK_EX)
        return self

    def acquire_now(self) -> bool:
        """Take the lock if it is free (else False, at once)."""
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # EACCES or EAGAIN: the other side holds it
            return False
        return True

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def release(self) -> None:
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_UN)
        except OSError:  # closed meanwhile (the agent found its processor dead and let it go): nothing is held
            pass

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
