"""Even-load placement of queued tasks onto workers with free queue slots.

Called once per batch of input (not once per task): it builds a heap of workers keyed by how many tasks
each holds, then hands each queued task to the least loaded worker that can run it. A task with no
capability requirement costs O(log workers); a task that requires capabilities scans the workers (those
are rare and their eligible set is small). Tasks that fit nowhere go back to the queue in their order.
A task re-run after a death (deaths.py) goes to another worker than the one it died on, when one has room.
A graph node whose input is a large result goes to the worker that produced it (its processor still holds the
value, so nothing is fetched) when that worker has an idle processor; otherwise placement is as usual.

``unplaceable_tasks`` finds the queued tasks that can never be placed: those whose capabilities no worker has
and no worker manager can provide.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from scaler.scheduler.tables import TaskQueue, TaskRecord, WorkerRecord

Assign = Callable[[TaskRecord, WorkerRecord], None]

NO_CAPABLE_WORKER_GRACE_SECONDS = 10.0  # a worker still starting up gets this long to connect


def place_queued_tasks(
    queue: TaskQueue, tasks: dict[bytes, TaskRecord], workers: dict[bytes, WorkerRecord], assign: Assign
) -> None:
    if not queue:
        return
    order = itertools.count()  # tie-breaker, so equal loads never compare worker ids
    heap = [(len(w.tasks), next(order), w.worker_id) for w in workers.values() if w.free_slots > 0]
    if not heap:
        return
    heapq.heapify(heap)
    held_back: list[TaskRecord] = []
    while heap:
        task_id = queue.pop()
        if task_id is None:
            break
        record = tasks[task_id]
        if record.preferred_worker is not None:
            preferred = _idle_preferred(record, workers)
            if preferred is not None:  # out of heap order: its entry is re-checked when popped
                assign(record, preferred)
                continue
        if record.required_keys:
            worker = _least_loaded_capable(record.required_keys, workers, record.last_death_on)
            if worker is None:
                held_back.append(record)
                continue
            assign(record, worker)
            continue
        worker = _pop_least_loaded(heap, workers)
        if worker is None:
            held_back.append(record)
            break
        if worker.worker_id == record.last_death_on:
            other = _pop_least_loaded(heap, workers)
            if other is not None:
                heapq.heappush(heap, (len(worker.tasks), next(order), worker.worker_id))
                worker = other
        assign(record, worker)
        if worker.free_slots > 0:
            heapq.heappush(heap, (len(worker.tasks), next(order), worker.worker_id))
    for record in held_back:
        queue.push(record.task.task_id, record.task.priority, record.sequence)


def _idle_preferred(record: TaskRecord, workers: dict[bytes, WorkerRecord]) -> WorkerRecord | None:
    """The task's preferred worker if it can start the task now (a processor with nothing to do): O(1)."""
    worker = workers.get(record.preferred_worker) if record.preferred_worker is not None else None
    if worker is None or worker.worker_id == record.last_death_on or worker.free_slots <= 0:
        return None
    busy = len(worker.tasks) >= max(1, len(worker.heartbeat.processors))
    return None if busy or not record.required_keys <= worker.capability_keys else worker


def _pop_least_loaded(heap: list[tuple[int, int, bytes]], workers: dict[bytes, WorkerRecord]) -> WorkerRecord | None:
    # Entries go stale when a capability task lands on a worker out of heap order: re-check and re-push.
    while heap:
        load, index, worker_id = heapq.heappop(heap)
        worker = workers.get(worker_id)
        if worker is None or worker.free_slots <= 0:
            continue
        if len(worker.tasks) != load:
            heapq.heappush(heap, (len(worker.tasks), index, worker_id))
            continue
        return worker
    return None


def _least_loaded_capable(
    required: frozenset[str], workers: dict[bytes, WorkerRecord], avoid: bytes | None
) -> WorkerRecord | None:
    best: WorkerRecord | None = None
    best_rank = (True, 0)
    for worker in workers.values():
        if worker.free_slots > 0 and required <= worker.capability_keys:
            rank = (worker.worker_id == avoid, len(worker.tasks))
            if best is None or rank < best_rank:
                best, best_rank = worker, rank
    return best


def unplaceable_tasks(
    queue: TaskQueue,
    tasks: dict[bytes, TaskRecord],
    workers: dict[bytes, WorkerRecord],
    could_provide: Callable[[frozenset[str]], bool],
    now: float,
) -> list[TaskRecord]:
    """Queued tasks, waiting longer than the grace period, whose capability keys no worker has and no worker
    manager (``could_provide``) can provide."""
    placeable: set[frozenset[str]] = set()
    hopeless: list[TaskRecord] = []
    for task_id in queue.ids():
        record = tasks[task_id]
        keys = record.required_keys
        if not keys or keys in placeable or now - record.queued_at < NO_CAPABLE_WORKER_GRACE_SECONDS:
            continue
        if any(keys <= w.capability_keys for w in workers.values()) or could_provide(keys):
            placeable.add(keys)
        else:
            hopeless.append(record)
    return hopeless
