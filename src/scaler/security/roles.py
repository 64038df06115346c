"""What each role may do, checked where the servers dispatch messages (the sans-I/O cores stay unaware).

Every message that reaches a secured server carries the sender's public key (ZeroMQ's ``User-Id``, set by the
ZAP handler). The guards here map it to a role, bind each routing identity to the first key that used it (so
that no one can speak under another peer's identity), and answer "allowed" or why not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from scaler.ids import OWNER_PREFIX_BYTES, short
from scaler.protocol import messages as m
from scaler.security.credentials import SCHEDULER_ROLE, Identity
from scaler.security.keyring import KeyRing, key_label

logger = logging.getLogger("scaler.security")

# An admin (a cluster's owner) may do anything; workers and managers act as clients only for nested tasks.
_CLIENT = frozenset({"client", "admin", "worker", "manager"})
_WORKER = frozenset({"worker", "manager", "admin"})  # a manager's workers may run with the manager's credentials
_MANAGER = frozenset({"manager", "admin"})

SCHEDULER_PERMISSIONS: dict[type, frozenset[str]] = {
    m.ClientHeartbeat: _CLIENT,
    m.Task: _CLIENT,
    m.GraphTask: _CLIENT,
    m.TaskCancel: _CLIENT,
    m.ObjectsReleased: _CLIENT,
    m.ClientDisconnect: _CLIENT,
    m.SubmitCreditRequest: _CLIENT,
    m.WorkerHeartbeat: _WORKER,
    m.TaskStarted: _WORKER,
    m.TaskResult: _WORKER,
    m.TaskCancelConfirm: _WORKER,
    m.TaskLog: _WORKER,
    m.WorkerDisconnect: _WORKER,
    m.WorkerManagerHeartbeat: _MANAGER,
    m.WorkerDied: _MANAGER,
}
SHUTDOWN_ROLES = frozenset({"admin"})
_CHECKED_FURTHER = frozenset({m.ClientHeartbeat, m.ClientDisconnect, m.Task, m.GraphTask})
SUBMIT_ONLY_FOR_RUNNING_TASKS = frozenset({"worker", "manager"})

# Given a task id and the identities of one key, the client of that task if it is running on one of them.
TaskClientLookup = Callable[[bytes, Collection[bytes]], bytes | None]


class _RefusalLog:
    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()

    def refuse(self, key: str, what: str, why: str) -> str:
        if (key, what) not in self._seen:
            self._seen.add((key, what))
            logger.warning("refused %s from the peer with key %s: %s", what, key_label(key), why)
        return why


class SchedulerGuard:
    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring
        self._key_of: dict[bytes, str] = {}  # routing identity -> the key that first used it
        self._peers_of: dict[str, set[bytes]] = {}
        # A nested client under a worker's (or manager's) key -> the task it says it works for (its ClientHeartbeat).
        self._works_for_task: dict[bytes, bytes] = {}
        # routing identity -> (its key, who that is) under the keyring's current credentials: a frame from a known
        # peer is admitted with one lookup (the rest runs once per peer, and again after the keys are reloaded).
        self._admitted: dict[bytes, tuple[str, Identity]] = {}
        self._admitted_under = keyring.credentials
        self._key_of_limit = 1000  # prune() rebuilds the tables above once ``_key_of`` holds more
        self._log = _RefusalLog()

    def admit(self, peer: bytes, key: str) -> Identity | str:
        """Who sends a frame (checked once per frame, which holds a batch of messages), or why it is refused."""
        credentials = self.keyring.credentials
        if credentials is not self._admitted_under:  # reloaded: a key may have gone, or changed its role
            self._admitted.clear()
            self._admitted_under = credentials
        known = self._admitted.get(peer)
        if known is not None and known[0] == key:
            return known[1]
        who = self.keyring.identity(key)
        if who is None:
            return self._log.refuse(key, "messages", "unknown or revoked key")
        owner = self._key_of.setdefault(peer, key)
        if owner != key:
            return self._log.refuse(key, "messages", f"identity {short(peer)} belongs to another key")
        self._peers_of.setdefault(key, set()).add(peer)
        self._admitted[peer] = (key, who)
        return who

    def check(
        self, peer: bytes, key: str, who: Identity, message: Any, client_of_running: TaskClientLookup
    ) -> str | None:
        """None when ``message`` from an admitted ``peer`` may go to the core, else why not (logged once).

        A worker's key never submits as a client of its own: only through a nested client (``Client()`` inside a
        task) that names the task it works for, and only while that task runs on a worker holding the same key. So
        a worker acts for the clients whose tasks it runs, and for no one else, and not after their tasks end."""
        kind = type(message)
        if who.role not in SCHEDULER_PERMISSIONS.get(kind, ()):
            return self._log.refuse(key, kind.__name__, f"{who.name} is a {who.role}, which may not send it")
        if kind not in _CHECKED_FURTHER:  # the hot path: heartbeats, results
            return None
        if isinstance(message, m.ClientDisconnect) and message.shutdown and who.role not in SHUTDOWN_ROLES:
            return self._log.refuse(key, "a shutdown", f"{who.name} is a {who.role}: only an admin may shut down")
        if isinstance(message, m.ClientHeartbeat):
            if who.role in SUBMIT_ONLY_FOR_RUNNING_TASKS and message.parent_task_id:
                self._works_for_task[peer] = message.parent_task_id
            return None
        if isinstance(message, m.ClientDisconnect):
            self._works_for_task.pop(peer, None)
        if isinstance(message, m.Task) and message.client_id != peer:
            return self._log.refuse(key, kind.__name__, "the task names another client")
        if isinstance(message, m.Task | m.GraphTask) and who.role in SUBMIT_ONLY_FOR_RUNNING_TASKS:
            parent = self._works_for_task.get(peer)
            if parent is None or client_of_running(parent, self._peers_of.get(key, ())) is None:
                why = f"a {who.role} submits tasks only from inside a running task, for that task's client"
                return self._log.refuse(key, "Task", why)
        return None

    def prune(self, clients: Collection[bytes], live_peers: Callable[[], Collection[bytes]]) -> None:
        """Forget the peers that are gone (called now and then: one entry each would otherwise stay). ``clients``:
        the connected clients; ``live_peers()``: every connected peer (clients, workers, managers), asked for only
        when the table of identities has doubled since it was last pruned."""
        if len(self._works_for_task) > 2 * len(clients) + 1000:
            self._works_for_task = {peer: task for peer, task in self._works_for_task.items() if peer in clients}
        if len(self._key_of) > self._key_of_limit:  # a departed peer's identity is free again
            peers = live_peers()
            self._key_of = {peer: key for peer, key in self._key_of.items() if peer in peers}
            self._admitted = {peer: known for peer, known in self._admitted.items() if peer in peers}
            self._peers_of = {}
            for peer, key in self._key_of.items():
                self._peers_of.setdefault(key, set()).add(peer)
            self._key_of_limit = 2 * len(self._key_of) + 1000

    def peers_of(self, key: str) -> set[bytes]:
        return set(self._peers_of.get(key, ()))

    def forget(self, key: str) -> set[bytes]:
        """Drop every identity bound to ``key`` (revoked); returns them."""
        peers = self._peers_of.pop(key, set())
        for peer in peers:
            self._key_of.pop(peer, None)
            self._admitted.pop(peer, None)
            self._works_for_task.pop(peer, None)
        return peers


class StorageGuard:
    """Clients touch only objects under owner prefixes they hold; the first key to use a prefix holds it."""

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring
        self._holder: dict[bytes, str] = {}  # owner prefix -> key
        self._log = _RefusalLog()

    def check(self, key: str, request: Any) -> str | None:
        what = type(request).__name__
        who = self.keyring.identity(key)
        if who is None:
            return self._log.refuse(key, what, "unknown or revoked key")
        if isinstance(request, m.ObjectStats | m.SharedMemoryProbe) or who.role in (SCHEDULER_ROLE, "admin"):
            if isinstance(request, m.ObjectDeleteOwner) and who.role == SCHEDULER_ROLE:
                self._holder.pop(request.owner_prefix, None)  # that owner is gone for good
            return None
        if isinstance(request, m.ObjectDeleteOwner):
            prefixes: tuple[bytes, ...] = (request.owner_prefix,)
        elif isinstance(request, m.ObjectPut | m.ObjectGet):
            prefixes = (request.object_id[:OWNER_PREFIX_BYTES],)
        elif isinstance(request, m.ObjectDelete | m.ObjectMapped):  # a mapped read confirms what a read may touch
            prefixes = tuple({object_id[:OWNER_PREFIX_BYTES] for object_id in request.object_ids})
        else:
            return self._log.refuse(key, what, "not a storage request")
        if who.role in ("worker", "manager"):  # workers read arguments and write results of any client's tasks
            return (
                None
                if not isinstance(request, m.ObjectDeleteOwner)
                else self._log.refuse(key, what, f"{who.name} is a {who.role}, which may not delete a client's objects")
            )
        for prefix in prefixes:
            if self._holder.setdefault(prefix, key) != key:
                return self._log.refuse(key, what, f"{who.name} touched objects of another client")
        return None
