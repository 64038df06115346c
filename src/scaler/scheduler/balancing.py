"""Load balancing: take queued tasks back from busy workers so that idle workers can run them.

The advice itself is a pure function (``policy.balance.balance_advice``). This module adds the rule that
makes it safe to act on: the same advice must be seen ``trigger_times`` balancing rounds in a row, so a
momentary imbalance (a worker that is about to receive results) does not shuffle tasks back and forth. Two
advices are "the same" when they take tasks from the same workers: the exact task list changes at every
round while the busy worker keeps finishing tasks, and requiring it to stay identical would mean never
acting. Once a streak has lasted that long the imbalance is real, and every further round of the same
streak acts again: an idle worker that finishes what it was given within a round keeps pulling work from
behind a long-running task (acting only once per streak left such tasks waiting for the long one).
Acting sends an *unforced* cancel: a worker gives up only tasks that are still queued there.

A worker's load counts the tasks that it said it started (``TaskStarted``) as running, and its other
assigned tasks as queued; tasks already being taken back (or cancelled) count nowhere, so a round never asks
for them twice.

A worker that has just connected is not a momentary imbalance: after ``worker_joined()`` the next tick acts on
the first advice, so that workers joining a busy cluster (scaling up, or a cluster whose first worker took a
whole burst) get their share at once instead of after ``trigger_times`` balancing intervals. Nor is a worker
that has run dry (``worker_ran_dry()``: it finished everything it held) while others still hold queued tasks:
that is the tail of a burst, whose queues were filled evenly up front and drain unevenly (a worker whose core is
shared with another process is slower), and waiting two rounds for it left the dry worker idle until the end (200
tasks of 20 ms: about a tenth of the run). At most every quarter interval, since a worker that is fed one task at
a time runs dry after each. Those two act in the flush that follows (``due_now``), not at the next tick: a dry
worker waiting for the tick (a tenth of a second) was most of the tail of a burst.
"""

from __future__ import annotations

from typing import Any

from scaler.scheduler.policy.balance import WorkerLoad, balance_advice
from scaler.scheduler.tables import TaskRecord, TaskState, WorkerRecord


class Balancer:
    def __init__(self, interval_seconds: float, trigger_times: int, policy: Any) -> None:
        self._interval = interval_seconds  # <= 0: balancing is off
        self._trigger_times = max(1, trigger_times)
        self._capability_aware = getattr(policy, "allocation", "even_load") == "capability"
        self._last_sources: frozenset[str] = frozenset()
        self._repeats = 0
        self._last_round = 0.0
        self._joined = False
        self._last_dry = float("-inf")

    @property
    def due_now(self) -> bool:
        """Whether a worker joined or ran dry since the last round: act at once, without waiting for a tick."""
        return self._joined and self._interval > 0

    def worker_joined(self) -> None:
        self._joined = True

    def worker_ran_dry(self, now: float) -> None:
        if now - self._last_dry >= self._interval / 4:
            self._last_dry = now
            self._joined = True

    def tick(
        self, workers: dict[bytes, WorkerRecord], tasks: dict[bytes, TaskRecord], now: float
    ) -> dict[bytes, list[bytes]]:
        """{worker id: queued task ids to take back from it} to act on at this tick; usually {}."""
        if self._interval <= 0:
            return {}
        if self._joined:  # act on the first advice; a streak in progress starts over
            self._joined = False
            self._last_sources, self._repeats = frozenset(), 0
            return _by_worker_id(self._advice(workers, tasks), workers)
        if now - self._last_round < self._interval:
            return {}
        self._last_round = now
        return self._repeated_advice(workers, tasks)

    def _repeated_advice(
        self, workers: dict[bytes, WorkerRecord], tasks: dict[bytes, TaskRecord]
    ) -> dict[bytes, list[bytes]]:
        """The advice, once it has been the same ``trigger_times`` rounds in a row; else {}."""
        advice = self._advice(workers, tasks)
        sources = frozenset(advice)
        if advice and sources == self._last_sources:
            self._repeats += 1
        else:
            self._last_sources = sources
            self._repeats = 1 if advice else 0
        if not advice or self._repeats < self._trigger_times:
            return {}
        return _by_worker_id(advice, workers)

    def _advice(self, workers: dict[bytes, WorkerRecord], tasks: dict[bytes, TaskRecord]) -> dict[str, list[bytes]]:
        if len(workers) < 2:
            return {}
        loads = [_load(worker, tasks) for worker in workers.values()]
        return balance_advice(loads, capability_aware=self._capability_aware)


def _by_worker_id(advice: dict[str, list[bytes]], workers: dict[bytes, WorkerRecord]) -> dict[bytes, list[bytes]]:
    by_name = {worker_id.decode(errors="replace"): worker_id for worker_id in workers}
    return {by_name[name]: task_ids for name, task_ids in advice.items() if name in by_name}


def _load(worker: WorkerRecord, tasks: dict[bytes, TaskRecord]) -> WorkerLoad:
    running = 0
    queued: list[tuple[bytes, frozenset[str]]] = []
    for task_id in worker.tasks:  # oldest assignment first
        record = tasks.get(task_id)
        if record is None or record.worker != worker.worker_id:
            continue  # its client left: the worker is dropping it
        if record.started:
            running += 1
        elif record.state is TaskState.ASSIGNED:
            queued.append((task_id, record.required_keys))
    return WorkerLoad(
        worker_id=worker.worker_id.decode(errors="replace"),
        capabilities=worker.heartbeat.capabilities,
        queued=queued,
        running=running,
        free_slots=worker.free_slots,
    )
