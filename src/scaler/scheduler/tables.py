"""What the scheduler knows: tasks, workers, clients and worker managers, as plain records.

Task states (the only place they are named):

    WAITING     a graph node whose dependencies have not all finished yet
    QUEUED      in the scheduler's queue, on no worker
    ASSIGNED    sent to ``worker``; it is queued there, or running once ``started`` (the worker said TaskStarted)
    BALANCING   asked back from ``worker`` by the load balancer (unforced cancel); back to QUEUED if the
                worker gives it up, back to ASSIGNED if it is already running
    CANCELING   the client cancelled it while it was on ``worker``; waiting for the worker's confirm

A task leaves the table when its result (or its cancel confirm) has been sent to its client, or when its
client is gone. Records are mutable on purpose: they are touched on every message of the hot path.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from dataclasses import dataclass, field

from scaler.protocol import messages as m

NO_KEYS: frozenset[str] = frozenset()  # shared by every task without capabilities (an empty frozenset is 216 bytes)


class TaskState(enum.Enum):
    WAITING = "waiting"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    BALANCING = "balancing"
    CANCELING = "canceling"


@dataclass(slots=True)
class TaskRecord:
    task: m.Task
    state: TaskState
    sequence: int  # FIFO order within a priority; kept across re-queues so old work stays first
    queued_at: float
    worker: bytes | None = None
    started: bool = False  # running on ``worker`` (not just queued there): see deaths.py and balancing.py
    deaths: int = 0  # workers and processors that died while running it (deaths.py)
    last_death_on: bytes | None = None  # the worker it last died on: a re-run goes elsewhere if it can
    cancel_requested: bool = False
    required_keys: frozenset[str] = NO_KEYS
    # Graph nodes only: how many dependencies are unfinished, who depends on this one, and whether the
    # client wants this node's result (intermediate nodes only feed their dependents).
    waiting_on: int = 0
    dependents: list[bytes] | None = None
    reported: bool = True
    depends_on: tuple[bytes, ...] = ()  # graph nodes: the nodes whose results are its arguments (graphs.py)
    preferred_worker: bytes | None = None  # a worker holding one of its large inputs (allocation.py)


@dataclass(slots=True)
class WorkerRecord:
    worker_id: bytes
    heartbeat: m.WorkerHeartbeat
    last_seen: float
    capability_keys: frozenset[str]
    tasks: dict[bytes, None] = field(default_factory=dict)  # ordered: oldest assignment first

    @property
    def free_slots(self) -> int:
        return self.heartbeat.queue_size - len(self.tasks)


@dataclass(slots=True)
class NodeResult:
    """A graph node's result kept for the dependents still waiting for it (see graphs.py)."""

    object_id: bytes  # the node's ``result_object_id``: how its dependents' arguments name the result
    payload: m.TaskArg  # INLINE: the value itself, handed to the dependents; OBJECT: it is in object storage
    worker: bytes | None  # the worker that produced it
    waiting: int  # dependents still waiting for it; dropped at 0


@dataclass(slots=True)
class ClientRecord:
    client_id: bytes
    last_seen: float
    tasks: set[bytes] = field(default_factory=set)
    works_for: bytes | None = None  # a nested client (created inside a task): the client of that task
    # Results of finished graph nodes that waiting nodes still need, by task id: they go when the client does.
    node_results: dict[bytes, NodeResult] = field(default_factory=dict)


@dataclass(slots=True)
class ManagerRecord:
    peer: bytes
    heartbeat: m.WorkerManagerHeartbeat
    last_seen: float


class TaskQueue:
    """Queued task ids ordered by (priority desc, sequence asc), with lazy removal.

    Removal only marks; stale heap entries are skipped when popped. That keeps cancel and re-queue O(log n)
    instead of O(n) on a queue that may hold a million tasks.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, bytes]] = []
        self._members: dict[bytes, int] = {}  # task id -> sequence of its live heap entry
        self._stale = 0  # heap entries no longer in _members: rebuilt away once they outnumber the live ones

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, task_id: bytes) -> bool:
        return task_id in self._members

    def push(self, task_id: bytes, priority: int, sequence: int) -> None:
        if self._members.get(task_id) is not None:
            self._stale += 1
        self._members[task_id] = sequence
        heapq.heappush(self._heap, (-priority, sequence, task_id))

    def discard(self, task_id: bytes) -> None:
        if self._members.pop(task_id, None) is not None:
            self._stale += 1
            if self._stale > 1024 and self._stale > len(self._members):
                self.compact()

    def compact(self) -> None:
        """Drop stale heap entries and shrink the tables (a dict keeps its largest size after deletions)."""
        members, seen, live = self._members, set(), []
        for entry in self._heap:
            if members.get(entry[2]) == entry[1] and entry[2] not in seen:
                seen.add(entry[2])
                live.append(entry)
        heapq.heapify(live)
        self._heap = live
        self._members = dict(members)
        self._stale = 0

    def pop(self) -> bytes | None:
        """The next queued id (highest priority, then oldest), removed from the queue; None when empty."""
        heap, members = self._heap, self._members
        while heap:
            _, sequence, task_id = heapq.heappop(heap)
            if members.get(task_id) == sequence:
                del members[task_id]
                return task_id
            self._stale -= 1
        return None

    def ids(self) -> list[bytes]:
        return list(self._members)


_sequence = itertools.count()


def next_sequence() -> int:
    return next(_sequence)
