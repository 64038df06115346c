"""Load-balancing advice: which queued tasks to take back from busy workers so idle workers can run them.

A pure function of a snapshot of worker loads. The scheduler acts on it only after the same advice has
repeated ``load_balance_trigger_times`` times, so it must be deterministic: the same snapshot always gives the
same advice, whatever order the workers come in.

Rules:

- Nothing is advised unless some worker is idle (nothing running, nothing queued) and some other worker has
  queued tasks. Balancing is for capacity that would otherwise sit unused, not for polishing an even spread.
- A worker's load is its running plus its queued tasks. The target is ceil(total load / number of workers).
  Workers above the target give, and workers below it with free queue slots receive.
- Only queued tasks move (running ones cannot be taken back), the youngest first. The oldest have waited
  longest and are next in line where they are.
- Moves are simulated one task at a time: the most loaded giver gives to the least loaded receiver. They
  stop when no giver is above the target or no receiver has room. At most the receivers' room below the
  target moves, so every task taken back has somewhere less busy to go.
- With ``capability_aware``, a task is movable only to a receiver whose capability keys cover the task's
  keys. A task that no receiver can run stays put, and the giver offers its next-youngest task instead.

The advice names the tasks; where they go is decided again by the scheduler's normal allocation.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class WorkerLoad:
    worker_id: str
    capabilities: Mapping[str, int]
    queued: Sequence[tuple[bytes, frozenset[str]]]  # (task id, required keys), oldest first
    running: int  # tasks executing now
    free_slots: int  # how many more tasks its queue accepts

    @property
    def load(self) -> int:
        return max(0, self.running) + len(self.queued)


@dataclass
class _Receiver:
    worker_id: str
    keys: frozenset[str]
    load: int
    room: int  # tasks it may still receive: up to the target and within its free slots


@dataclass
class _Giver:
    worker_id: str
    load: int
    candidates: list[tuple[bytes, frozenset[str]]] = field(default_factory=list)  # youngest first


def balance_advice(workers: Sequence[WorkerLoad], capability_aware: bool) -> dict[str, list[bytes]]:
    """{worker id: task ids to take back from its queue, youngest first}; {} when nothing should move."""
    ordered = sorted(workers, key=lambda w: w.worker_id)  # input order must not change the advice
    if not any(w.load == 0 for w in ordered) or not any(w.queued for w in ordered):
        return {}
    target = math.ceil(sum(w.load for w in ordered) / len(ordered))
    receivers = [
        _Receiver(w.worker_id, frozenset(w.capabilities), w.load, min(target - w.load, w.free_slots))
        for w in ordered
        if w.load < target and w.free_slots > 0
    ]
    givers = [_Giver(w.worker_id, w.load, list(reversed(w.queued))) for w in ordered if w.load > target and w.queued]
    # Most loaded giver first; ties broken by worker id through the stable index.
    heap = [(-giver.load, index) for index, giver in enumerate(givers)]
    heapq.heapify(heap)
    advice: dict[str, list[bytes]] = {}
    room = sum(r.room for r in receivers)
    while heap and room > 0:
        _, index = heapq.heappop(heap)
        giver = givers[index]
        moved = _move_one(giver, receivers, capability_aware)
        if moved is None:
            continue  # nothing left that anyone may take from this giver
        advice.setdefault(giver.worker_id, []).append(moved)
        giver.load -= 1
        room -= 1
        if giver.load > target and giver.candidates:
            heapq.heappush(heap, (-giver.load, index))
    return advice


def _move_one(giver: _Giver, receivers: list[_Receiver], capability_aware: bool) -> bytes | None:
    """Take the giver's youngest task that some receiver with room may run, and charge that receiver."""
    for position, (task_id, keys) in enumerate(giver.candidates):
        receiver = _least_loaded(receivers, keys if capability_aware else frozenset())
        if receiver is None:
            continue
        # Tasks skipped on the way can never move later either (room only shrinks), so drop them too.
        del giver.candidates[: position + 1]
        receiver.load += 1
        receiver.room -= 1
        return task_id
    giver.candidates.clear()  # none of its tasks can go anywhere now, and rooms only shrink
    return None


def _least_loaded(receivers: list[_Receiver], keys: frozenset[str]) -> _Receiver | None:
    best: _Receiver | None = None
    for receiver in receivers:  # already in worker-id order, so ties go to the smallest id
        if receiver.room > 0 and keys <= receiver.keys and (best is None or receiver.load < best.load):
            best = receiver
    return best
