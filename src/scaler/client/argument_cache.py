"""Large arguments the client uploaded by itself: which Python object each upload stands for, and when it can go.

A large argument is uploaded to object storage once and reused for as long as either
- the identity cache can still hand the same upload out (the Python object is alive and remembered), or
- a task that uses it has not finished.
When neither holds, nothing can ask for it again: it is released (deleted from object storage, dropped from every
processor's cache). Without this, a long-lived client that passes a fresh large argument to each task (a chunk of
data per task) would keep every one of them in object storage and in the processors until it disconnects.

The identity cache remembers an object through a weak reference when it allows one (numpy arrays, most user
classes); immutable objects that do not (bytes, str) are held in a small LRU, and dropped from it as soon as
nobody but the cache holds them.

Threads: the encoder (user threads) looks up, adds and retains under ``lock``. Weak-reference callbacks run in
whatever thread drops the last reference, possibly in the middle of other work under other locks, and futures
finish in the client's I/O thread: both only queue an event (a deque append needs no lock). ``collect()``, called
by the I/O thread after each wake-up and on its timer, applies the events and releases what became unreachable.
"""

from __future__ import annotations

import collections
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from scaler.protocol import messages as m

STRONG_CACHE_SIZE = 16
_IMMUTABLE_TYPES = (bytes, str, frozenset)


def _holders(entry: tuple[Any, ...]) -> int:
    return sys.getrefcount(entry[0])


# What ``_holders`` counts for a value that only its cache entry holds (2 on CPython); no sweep elsewhere.
_ALONE = _holders((bytes(64),)) if hasattr(sys, "getrefcount") else -1


class ArgumentCache:
    def __init__(self, release: Callable[[list[bytes]], None]) -> None:
        self.lock = threading.Lock()
        self._release = release
        self._weak: dict[int, tuple[weakref.ref[Any], m.TaskArg]] = {}
        self._strong: collections.OrderedDict[int, tuple[Any, m.TaskArg]] = collections.OrderedDict()
        self._users: dict[bytes, int] = {}  # object id -> tasks sent and not yet finished
        self._entries: dict[bytes, int] = {}  # object id -> identity-cache entries that hand it out
        self._events: collections.deque[tuple[bytes, int, int]] = collections.deque()  # (id, users, entries)
        self._dead: collections.deque[tuple[int, weakref.ref[Any]]] = collections.deque()  # (key, its weak ref)

    # --- under ``lock`` (the encoder) --------------------------------------------------------------------------

    def lookup(self, value: Any) -> m.TaskArg | None:
        """The upload standing for this very object, retained for one more task; None if there is none."""
        key = id(value)
        weak = self._weak.get(key)
        if weak is not None and weak[0]() is value:
            return self._retain(weak[1])
        strong = self._strong.get(key)
        if strong is not None and strong[0] is value:
            self._strong.move_to_end(key)
            return self._retain(strong[1])
        return None

    def add(self, value: Any, arg: m.TaskArg) -> m.TaskArg:
        """A new upload of ``value``, retained for the task being built; remembered when the object allows."""
        self.remember(value, arg)
        return self._retain(arg)

    def remember(self, value: Any, arg: m.TaskArg) -> None:
        """Track a new upload of ``value``: it lives while the cache can hand it out (while ``value`` lives, if the
        object allows a weak reference) or a task retains it."""
        object_id = arg.data
        self._users.setdefault(object_id, 0)
        self._entries.setdefault(object_id, 0)
        key = id(value)
        try:
            ref = weakref.ref(value, lambda dead: self._dead.append((key, dead)))
        except TypeError:
            ref = None
        if ref is not None:
            self._replace(self._weak.pop(key, None))
            self._weak[key] = (ref, arg)
            self._entries[object_id] += 1
        elif isinstance(value, _IMMUTABLE_TYPES):
            self._replace(self._strong.pop(key, None))
            self._strong[key] = (value, arg)
            self._entries[object_id] += 1
            if len(self._strong) > STRONG_CACHE_SIZE:
                self._replace(self._strong.popitem(last=False)[1])

    def is_tracked(self, object_id: bytes) -> bool:
        """Whether an upload under this id is still alive (a content id may be reused only while it is)."""
        return object_id in self._users

    def retain_id(self, object_id: bytes) -> None:
        """One more task uses a tracked upload (found again by its content id)."""
        self._users[object_id] += 1

    def reset(self) -> None:
        """Forget everything: ``clear()`` deleted all of the client's objects at once."""
        self._weak.clear()
        self._strong.clear()
        self._users.clear()
        self._entries.clear()
        self._events.clear()
        self._dead.clear()

    # --- from any thread, no lock ------------------------------------------------------------------------------

    def tasks_done(self, object_ids: Iterable[bytes]) -> None:
        """Tasks that used these ids finished (one event per use; ids of other objects are ignored)."""
        for object_id in object_ids:
            self._events.append((object_id, -1, 0))

    # --- the I/O thread ----------------------------------------------------------------------------------------

    def collect(self, sweep: bool = False) -> None:
        """Apply the queued events and release what nothing can use again; ``sweep`` (on a timer, not after every
        wake-up) also drops the strong entries that nobody but this cache holds any more."""
        if not self._events and not self._dead and not (sweep and self._strong):
            return
        with self.lock:
            while self._dead:
                key, ref = self._dead.popleft()
                entry = self._weak.get(key)
                if entry is not None and entry[0] is ref:  # else replaced already, and counted then
                    del self._weak[key]
                    self._events.append((entry[1].data, 0, -1))
            if sweep and _ALONE > 0:
                for key, entry in list(self._strong.items()):
                    if _holders(entry) <= _ALONE:
                        del self._strong[key]
                        self._events.append((entry[1].data, 0, -1))
            touched: set[bytes] = set()
            while self._events:
                object_id, users, entries = self._events.popleft()
                if object_id in self._users:
                    self._users[object_id] += users
                    self._entries[object_id] += entries
                    touched.add(object_id)
            unreachable = [i for i in touched if self._users[i] <= 0 and self._entries[i] <= 0]
            for object_id in unreachable:
                del self._users[object_id], self._entries[object_id]
            if unreachable:
                self._release(unreachable)

    # --- helpers -----------------------------------------------------------------------------------------------

    def _retain(self, arg: m.TaskArg) -> m.TaskArg:
        self._users[arg.data] += 1
        return arg

    def _replace(self, entry: tuple[Any, m.TaskArg] | None) -> None:
        if entry is not None:  # an entry dropped by the cache itself: its upload loses a way to be handed out
            self._events.append((entry[1].data, 0, -1))
