"""What a queued task costs the scheduler, and handing memory back after a large drop.

A decoded ``Task`` owns copies of values that every task of a client shares: the client id, the function
id and name, and empty ``kwargs``/``capabilities`` dicts. With a million tasks queued those copies were about
half of the scheduler's memory, so ``share_fields`` swaps each for one shared object (the values are equal,
so nothing that reads the task can tell). bench/backpressure.py measures the cost per queued task.

When a client with many tasks leaves, its records are freed, but the memory does not go back by itself:
CPython keeps emptied hash tables at their largest size, its free lists keep thousands of freed tuples
and dicts that each pin a 1 MB arena of its small-object allocator, and glibc keeps freed heap pages.
``SchedulerCore`` rebuilds its tables, and the shell then calls ``release_free_memory(collect=True)``
(scaler/io/memory.py): a full collection empties the free lists (measured: 50 of 62 arenas released after
100,000 tasks left), and ``malloc_trim`` returns the pages. The shell also trims on a timer: a burst of small
messages leaves zmq's I/O thread with a large, mostly free glibc arena (134 MB after 100,000 one-task messages).
"""

from __future__ import annotations

import logging
from typing import Any

from msgspec.structs import force_setattr

from scaler.protocol import messages as m

logger = logging.getLogger("scaler.scheduler")

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
