"""What a queued task costs the scheduler, and handing memory back after a large drop.

A decoded ``Task`` owns copies of values that every task of a client shares: the client id, the function
id and name, and empty ``kwargs``/``capabilities`` dicts. With a million tasks queued those copies were about
half of the scheduler's memory, so ``share_fields`` swaps each for one shared object (the values are equal,
so nothing that reads the task can tell). bench/backpressure.py measures the cost per queued task.

When a client with many tasks leaves, its records are freed, but the memory does not go back by itself:
CPython keeps emptied hash tables at their largest size, its free lists keep thousands of freed tuples
and dicts that each pin a 1 MB arena of its small-object allocator, and glibc keeps freed heap pages.
``SchedulerCore`` rebuilds its tables, and the shell then calls ``trim_heap(collect=True)``: a full
collection empties the free lists (measured: 50 of 62 arenas released after 100,000 tasks left), and
``malloc_trim`` returns the pages. The shell also trims every ``TRIM_SECONDS``: a burst of small messages
leaves zmq's I/O thread with a large, mostly free glibc arena (134 MB after 100,000 one-task messages).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from typing import Any

from msgspec.structs import force_setattr

from scaler.protocol import messages as m

logger = logging.getLogger("scaler.scheduler")

TRIM_SECONDS = 10.0
COMPACT_AFTER_DROPPING = 10_000  # tasks of one departing client that make rebuilding the tables worth it
INTERNED_LIMIT = 10_000  # distinct function ids and names remembered; beyond, start afresh

_EMPTY: dict[str, Any] = {}  # never mutated: a Task is frozen and nothing in the scheduler writes into it


def share_fields(task: m.Task, client_id: bytes, interned: dict[Any, Any]) -> None:
    """Replace ``task``'s copies of shared values by shared objects (``interned`` maps a value to its copy)."""
    if task.client_id == client_id:
        force_setattr(task, "client_id", client_id)
    if len(interned) > INTERNED_LIMIT:
        interned.clear()
    force_setattr(task, "function_id", interned.setdefault(task.function_id, task.function_id))
    force_setattr(task, "function_name", interned.setdefault(task.function_name, task.function_name))
    if not task.kwargs:
        force_setattr(task, "kwargs", _EMPTY)
    if not task.capabilities:
        force_setattr(task, "capabilities", _EMPTY)


def _load_malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None


_malloc_trim = _load_malloc_trim()


def trim_heap(collect: bool = False) -> None:
    """Return freed heap pages to the OS (glibc's ``malloc_trim``; a no-op where it does not exist). With
    ``collect``, first a full garbage collection, which also empties CPython's free lists (rare: it costs a
    pass over every tracked object)."""
    if collect:
        gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)
