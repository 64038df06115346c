"""A writer's segments (see ``shared_memory``), recycled: a fresh segment costs page allocation (about 5x a copy
into memory already faulted in), so a segment nobody holds any more is reused for the next object instead.

The pool holds a shared lock on each of its segments, and mapped it writable once. To write an object it takes the
exclusive lock on a segment large enough: that succeeds only when no one else (object storage, a reader) holds it,
so nobody can see the bytes change. It writes, touches the file (the sweeper leaves young files alone) and goes back
to a shared lock. Bounded: at most ``max_bytes`` and ``max_segments`` in all (an object that does not fit goes over
TCP); a segment unused for ``idle_seconds`` is removed once nobody holds it. Thread-safe (a client uploads from
any user thread). Time is an argument (``now``, monotonic) so that the pool is tested without waiting.

A writer that has just released an object (``released``) knows its segment is about to be free: storage lets go
of it within a millisecond or so of the deletion. When no other segment fits, ``write`` waits for such a one up to
about what a fresh segment of that size would cost, instead of paying for fresh pages.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import mmap
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from scaler.object_storage import shared_memory as shm

logger = logging.getLogger("scaler.shared_memory")

IDLE_SECONDS = 30.0
MAX_SEGMENTS = 64
MAX_SHARE_OF_DIRECTORY = 0.25  # of the tmpfs's size: the default for ``max_bytes``
_GRANULE = 1 << 20  # capacities are rounded up to this, so that objects of about the same size share segments
RELEASE_WAIT_SECONDS = 0.05  # the longest ``write`` waits for a released segment (a fresh 100 MB one costs ~0.1 s)
_FRESH_BYTES_PER_SECOND = 1 << 30  # about what allocating fresh shared pages costs: the wait is sized by it
_RELEASE_FRESH_SECONDS = 1.0  # a release this recent may still be on its way to storage


@dataclasses.dataclass
class _Segment:
    name: str
    fd: int
    mapping: mmap.mmap
    capacity: int
    last_used: float
    object_id: bytes = b""
    released_at: float | None = None  # when this writer released the object in it (see ``released``)


class SegmentPool:
    def __init__(
        self,
        folder: str | None = None,
        max_bytes: int | None = None,
        max_segments: int = MAX_SEGMENTS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.folder = folder or shm.directory()
        self.max_bytes = max_bytes if max_bytes is not None else _default_max_bytes(self.folder)
        self.max_segments = max_segments
        self.idle_seconds = idle_seconds
        self._segments: list[_Segment] = []
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return [segment.name for segment in self._segments]

    @property
    def total_bytes(self) -> int:
        return sum(segment.capacity for segment in self._segments)

    def write(self, object_id: bytes, frames: Sequence[Any], now: float) -> str | None:
        """Write ``frames`` of ``object_id`` into a free segment; its name, or None when none can be had (the pool
        is full of segments still held, or the shared-memory file system is full): the caller uses TCP."""
        _, needed = shm.layout(object_id, [memoryview(frame).nbytes for frame in frames])
        with self._lock:
            segment = (
                self._free_segment(needed) or self._released_segment(needed, now) or self._new_segment(needed, now)
            )
            if segment is None:
                return None
            segment.object_id, segment.released_at = object_id, None
            try:
                shm.write_frames(segment.mapping, object_id, frames)
                os.utime(segment.fd)  # young again: the sweeper leaves it alone while this writer downgrades
            finally:
                fcntl.flock(segment.fd, fcntl.LOCK_SH)
            segment.last_used = now
            if os.fstat(segment.fd).st_nlink == 0:  # removed while it was briefly unlocked (see _free_segment)
                self._drop(segment)
                return None
            return segment.name

    def released(self, object_ids: Iterable[bytes], now: float) -> None:
        """This writer deleted these objects: their segments will be free as soon as storage has let them go."""
        wanted = set(object_ids)
        with self._lock:
            for segment in self._segments:
                if segment.object_id in wanted:
                    segment.released_at = now

    def trim(self, now: float) -> None:
        """Remove the segments unused for ``idle_seconds`` that nobody holds."""
        with self._lock:
            for segment in [s for s in self._segments if now - s.last_used >= self.idle_seconds]:
                if self._take(segment):
                    self._remove(segment)

    def close(self) -> None:
        """Remove every segment nobody else holds; the others stay for their holders (object storage or the
        sweeper removes them once those let go)."""
        with self._lock:
            for segment in list(self._segments):
                if self._take(segment):
                    self._remove(segment)
                else:
                    self._drop(segment)

    # --- inside the lock -----------------------------------------------------------------------------------------

    def _free_segment(self, needed: int) -> _Segment | None:
        """The smallest segment of at least ``needed`` bytes that nobody else holds, locked exclusively."""
        for segment in sorted(self._segments, key=lambda s: s.capacity):
            if segment.capacity >= needed and self._take(segment):
                if os.fstat(segment.fd).st_nlink:
                    return segment
                self._drop(segment)
        return None

    def _released_segment(self, needed: int, now: float) -> _Segment | None:
        """Wait a little for a segment whose object was just released, if there is one that fits."""
        if not any(
            s.capacity >= needed and s.released_at is not None and now - s.released_at < _RELEASE_FRESH_SECONDS
            for s in self._segments
        ):
            return None
        deadline = time.monotonic() + min(RELEASE_WAIT_SECONDS, needed / _FRESH_BYTES_PER_SECOND)
        while time.monotonic() < deadline:
            time.sleep(0.0005)
            segment = self._free_segment(needed)
            if segment is not None:
                return segment
        return None

    def _take(self, segment: _Segment) -> bool:
        """Convert this pool's shared lock to an exclusive one; False when someone else holds the segment.

        A failed conversion may drop the shared lock (flock converts by unlocking first), so it is taken again; if
        even that fails, whoever holds it exclusively is removing it, and the pool lets it go.
        """
        try:
            fcntl.flock(segment.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        try:
            fcntl.flock(segment.fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            self._drop(segment)
        return False

    def _new_segment(self, needed: int, now: float) -> _Segment | None:
        capacity = -(-needed // _GRANULE) * _GRANULE
        if capacity > self.max_bytes:
            return None
        while self._segments and (
            len(self._segments) >= self.max_segments or self.total_bytes + capacity > self.max_bytes
        ):
            victim = next((s for s in sorted(self._segments, key=lambda s: s.last_used) if self._take(s)), None)
            if victim is None:
                return None  # everything is held: this object goes over TCP
            self._remove(victim)
        try:
            name, fd = shm.create_segment(capacity, self.folder)
        except OSError as error:
            logger.info("no shared-memory segment of %d bytes (%s): sending over TCP", capacity, error.strerror)
            return None
        try:
            flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)  # pages are allocated: map them all at once
            mapping = mmap.mmap(fd, capacity, flags=flags)
        except OSError:
            os.close(fd)
            shm.unlink_if_unheld(name, self.folder)
            return None
        segment = _Segment(name, fd, mapping, capacity, now)
        self._segments.append(segment)
        return segment

    def _remove(self, segment: _Segment) -> None:
        """Unlink a segment this pool holds exclusively, and forget it."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.folder, segment.name))
        self._drop(segment)

    def _drop(self, segment: _Segment) -> None:
        self._segments.remove(segment)
        with contextlib.suppress(BufferError):
            segment.mapping.close()
        os.close(segment.fd)


def _default_max_bytes(folder: str) -> int:
    try:
        info = os.statvfs(folder)
    except OSError:
        return 0
    return int(info.f_blocks * info.f_frsize * MAX_SHARE_OF_DIRECTORY)
