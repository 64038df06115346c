"""Same-host objects in shared memory: segment files, what is in them, and when one may be removed.

When a client or processor shares a host (and a ``/dev/shm``) with object storage, a large object is written once
into a *segment*: a file ``scaler-<32 hex>`` in ``/dev/shm`` (``SCALER_SHARED_MEMORY_DIR`` names another
directory), created with mode 0600, so other local users cannot read it; every process of the same user can, and
that is the trust boundary (such a process can read the user's memory anyway). The put message then names the
segment instead of carrying the bytes, and readers map it: numpy arrays and other out-of-band pickle buffers become
views on the mapping, with no copy.

Reference count: ``flock``. Every holder keeps a shared lock on its own open file description of the segment: the
writer's pool (see ``shared_memory_pool``), object storage while the object lives, and each reader's mapping
(CPython's ``mmap`` duplicates the descriptor, so a reader's lock lives exactly as long as its mapping and every
array built on it). Hence a segment nobody holds is one ``LOCK_EX | LOCK_NB`` succeeds on: only then may the writer
reuse it or anyone remove it. A crashed process's locks vanish with it, so nothing it held can leak: object storage
removes the name of a deleted object that nobody holds, and ``sweep`` (at its start and every minute) removes
segments whose owners all died.

Layout of a segment: a header (magic, the object id, the frame table) followed by the frames, each aligned to 64
bytes so that arrays built on them are aligned. A reader checks the object id after taking its lock: a segment the
writer reused meanwhile is detected, and the reader falls back to reading over TCP.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import mmap
import os
import re
import stat
import struct
import threading
from collections.abc import Sequence
from typing import Any

SWITCH_ENV = "SCALER_SHARED_MEMORY"  # "0": never use shared memory (every object travels over TCP)
DIRECTORY_ENV = "SCALER_SHARED_MEMORY_DIR"
DEFAULT_DIRECTORY = "/dev/shm"
MIN_BYTES = 1 << 20  # objects from this size go through shared memory: below it, a TCP copy costs less than a map
SWEEP_MIN_AGE_SECONDS = 5.0  # a segment unheld for longer than its creation takes is abandoned
SWEEP_INTERVAL_SECONDS = 60.0

NAME_PREFIX = "scaler-"
_NAME = re.compile(r"scaler-[0-9a-f]{32}\Z")
MAGIC = b"SCLRSHM1"
_HEAD = struct.Struct("<8sHI")  # magic, object id length, frame count
_ENTRY = struct.Struct("<QQ")  # offset, length of one frame
ALIGN = 64
MAX_FRAMES = 1 << 16
PARALLEL_COPY_BYTES = 16 << 20  # a frame this large is copied in by several threads (memmove releases the GIL)
_COPY_THREADS = 4  # 100 MB: 7.5 ms with 4 threads, 14 ms with one (a quiet 2-core VM)


# How object storage's refusal of a shared-memory put begins: the writer then sends the bytes over TCP instead.
MAPPING_REFUSAL = "shared memory"


class SegmentError(Exception):
    """A segment that cannot be used (gone, reused, malformed, not ours): the reader falls back to TCP."""


def enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "1").strip() not in ("0", "false", "no", "off")


def directory() -> str:
    return os.environ.get(DIRECTORY_ENV) or DEFAULT_DIRECTORY


def new_name() -> str:
    return NAME_PREFIX + os.urandom(16).hex()


def is_segment_name(name: str) -> bool:
    """Only names of this exact form are ever opened or removed (no path can be smuggled in)."""
    return bool(_NAME.match(name))


def _aligned(offset: int) -> int:
    return (offset + ALIGN - 1) // ALIGN * ALIGN


def layout(object_id: bytes, sizes: Sequence[int]) -> tuple[list[int], int]:
    """The offsets of frames of ``sizes`` and the bytes a segment needs to hold them."""
    offset = _aligned(_HEAD.size + len(object_id) + _ENTRY.size * len(sizes))
    offsets = []
    for size in sizes:
        offsets.append(offset)
        offset = _aligned(offset + size)
    return offsets, offset


def write_frames(mapping: mmap.mmap, object_id: bytes, frames: Sequence[Any]) -> None:
    """Write the header and ``frames`` (buffers) into ``mapping``, which ``layout`` says is large enough."""
    views = [memoryview(frame).cast("B") for frame in frames]
    offsets, _ = layout(object_id, [view.nbytes for view in views])
    head = _HEAD.pack(MAGIC, len(object_id), len(views)) + object_id
    table = b"".join(_ENTRY.pack(offset, view.nbytes) for offset, view in zip(offsets, views, strict=True))
    for offset, view in zip(offsets, views, strict=True):
        _copy(mapping, offset, view)
    mapping[: len(head) + len(table)] = head + table


def _copy(mapping: mmap.mmap, offset: int, view: memoryview) -> None:
    """``mapping[offset:offset + len(view)] = view``, in parallel chunks when it is large: one core's memcpy is the
    whole cost of a large put (the segment's pages are already there, see shared_memory_pool)."""
    size = view.nbytes
    source = _address(view) if size >= PARALLEL_COPY_BYTES and _COPY_THREADS > 1 else None
    if source is None:
        mapping[offset : offset + size] = view
        return
    target_buffer = ctypes.c_char.from_buffer(mapping, offset)
    try:
        target = ctypes.addressof(target_buffer)
        step = -(-size // _COPY_THREADS)
        chunks = [(target + start, source + start, min(step, size - start)) for start in range(0, size, step)]
        helpers = [threading.Thread(target=ctypes.memmove, args=chunk, daemon=True) for chunk in chunks[1:]]
        for helper in helpers:
            helper.start()
        ctypes.memmove(*chunks[0])
        for helper in helpers:
            helper.join()
    finally:
        del target_buffer  # the export on the mapping: it could not be closed while this lives


def _address(view: memoryview) -> int | None:
    """The address of a contiguous buffer whose owner stays alive meanwhile (the caller holds ``view``)."""
    if not view.c_contiguous:
        return None
    if isinstance(view.obj, bytes) and len(view.obj) == view.nbytes:
        return ctypes.cast(ctypes.c_char_p(view.obj), ctypes.c_void_p).value
    if view.readonly:
        return None
    return ctypes.addressof(ctypes.c_char.from_buffer(view))


def read_frames(view: memoryview, object_id: bytes) -> list[memoryview]:
    """The frames of ``object_id`` held in a segment mapped as ``view``; SegmentError if it holds anything else."""
    if view.nbytes < _HEAD.size:
        raise SegmentError("segment is shorter than its header")
    magic, id_length, count = _HEAD.unpack_from(view)
    if magic != MAGIC or count > MAX_FRAMES:
        raise SegmentError("segment has no valid header")
    start = _HEAD.size
    if bytes(view[start : start + id_length]) != object_id:
        raise SegmentError("segment holds another object (it was reused)")
    start += id_length
    if start + count * _ENTRY.size > view.nbytes:
        raise SegmentError("segment's frame table is truncated")
    frames = []
    for index in range(count):
        offset, length = _ENTRY.unpack_from(view, start + index * _ENTRY.size)
        if offset + length > view.nbytes:
            raise SegmentError("segment's frame table points past its end")
        frames.append(view[offset : offset + length])
    return frames


def open_segment(name: str, object_id: bytes, *, writable: bool, folder: str | None = None) -> list[memoryview]:
    """Map segment ``name`` and return the frames of ``object_id`` in it, holding a shared lock for as long as any
    of them (or anything built on them) lives.

    ``writable``: a private copy-on-write mapping (readers: users may modify the arrays they get, and their writes
    never reach the segment); otherwise read-only (object storage, which only sends it on).
    """
    if not is_segment_name(name):
        raise SegmentError(f"{name!r} is not a segment name")
    path = os.path.join(folder or directory(), name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise SegmentError(f"cannot open segment {name}: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise SegmentError(f"segment {name} is not a private file of this user")
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SegmentError(f"segment {name} is being rewritten") from None
        if info.st_size < _HEAD.size:
            raise SegmentError(f"segment {name} is empty")
        access = mmap.ACCESS_COPY if writable else mmap.ACCESS_READ
        mapping = mmap.mmap(fd, info.st_size, access=access)  # holds a duplicate of fd, and so the lock
    finally:
        os.close(fd)
    view = memoryview(mapping)
    try:
        return read_frames(view, object_id)
    except SegmentError as error:
        reason = str(error)
    view.release()  # outside the handler: the traceback no longer holds a view, so the mapping (and lock) can go
    with contextlib.suppress(BufferError):
        mapping.close()
    raise SegmentError(f"segment {name}: {reason}")


def create_segment(size: int, folder: str | None = None) -> tuple[str, int]:
    """A new segment file of ``size`` bytes with its pages allocated (so that a full tmpfs is an error here, not a
    SIGBUS when writing through a mapping); returns its name and a read-write descriptor holding LOCK_EX."""
    folder = folder or directory()
    name = new_name()
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a fresh name: nobody else can hold it
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, size)
        else:  # not on macOS: pages are then allocated on first write
            os.ftruncate(fd, size)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return name, fd


def unlink_if_unheld(name: str, folder: str | None = None, min_age: float = 0.0, now: float | None = None) -> bool:
    """Remove segment ``name`` if no process holds it (and it is older than ``min_age`` seconds, wall clock ``now``).

    True when it was removed (or was gone already).
    """
    if not is_segment_name(name):
        return False
    path = os.path.join(folder or directory(), name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        if min_age and now is not None and now - os.fstat(fd).st_mtime < min_age:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return True
    finally:
        os.close(fd)  # the exclusive lock goes with it


def sweep(now: float, folder: str | None = None, min_age: float = SWEEP_MIN_AGE_SECONDS) -> list[str]:
    """Remove the segments (and probe files) in ``folder`` that no live process holds; the names removed.

    ``now`` is the wall-clock time (file times are wall-clock); a segment younger than ``min_age`` is left alone,
    as its writer may be between creating it and locking it.
    """
    folder = folder or directory()
    try:
        names = [name for name in os.listdir(folder) if is_segment_name(name)]
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.EACCES):
            return []
        raise
    return [name for name in names if unlink_if_unheld(name, folder, min_age, now)]
