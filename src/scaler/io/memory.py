"""Give freed heap memory back to the operating system.

glibc keeps memory that was freed in its arenas (one per thread that allocated, zmq's I/O threads included) for
reuse; after a burst (a flood of garbage frames, a big transfer) a long-running server would keep the peak as its
RSS for good. ``malloc_trim`` returns what is free. Servers call it on a slow timer; it is a no-op elsewhere.
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable

TRIM_INTERVAL_SECONDS = 10.0


def _load_trim() -> Callable[[int], int] | None:
    # The process's own symbols (libc's among them), not ``ctypes.util.find_library("c")``: that runs
    # ``ldconfig -p`` in a child process, which cost every server a fork at start-up (and showed up as a stray child).
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
        return trim
    except (OSError, AttributeError):  # not glibc
        return None


_trim = _load_trim()


def release_free_memory(collect: bool = False) -> None:
    """Return freed heap pages (a no-op where glibc's ``malloc_trim`` does not exist). With ``collect``, first a
    full garbage collection, which also empties CPython's free lists: each freed tuple or dict kept there can pin
    a 1 MB arena of its small-object allocator (rare: it costs a pass over every tracked object)."""
    if collect:
        gc.collect()
    if _trim is not None:
        _trim(0)
