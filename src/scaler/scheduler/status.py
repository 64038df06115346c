"""Describe the scheduler for the monitor stream (``scaler.protocol.status``), once a second.

``build_status`` is a pure function of the core's tables and of what the shell measured (its own CPU and
memory, the clocks), so tests call it on a core driven by messages. ``StatusReporter`` is the shell's part:
it measures, drains the core's recent task transitions into events, and spaces out the one part whose cost
grows with the number of live tasks (counts by state and by function), so that a scheduler holding a
million queued tasks does not spend its time describing them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import psutil

from scaler.protocol import status as s
from scaler.scheduler.core import SchedulerCore
from scaler.scheduler.core import TaskEvent as RawEvent
from scaler.scheduler.tables import TaskRecord, TaskState, WorkerRecord

STATUS_INTERVAL_SECONDS = 1.0
SCAN_TIME_SHARE = 0.05  # the live-task scan may use at most this share of the scheduler's time
_RUNNING_STATES = frozenset({TaskState.ASSIGNED.value, TaskState.BALANCING.value, TaskState.CANCELING.value})
_CANCELED = "canceled"
_SUCCESS = "success"


@dataclass(frozen=True)
class ServerInfo:
    """What the shell measures about its own process for one status."""

    address: str
    pid: int
    wall_time: float  # time.time() now: statuses carry wall-clock times, the core only monotonic ones
    uptime_s: float
    cpu_percent: float
    rss: int
    free_memory: int


@dataclass(frozen=True)
class LiveCounts:
    """Live tasks by state, and (queued, running) by function name: one pass over the task table."""

    by_state: dict[str, int]
    by_function: dict[str, tuple[int, int]]


@dataclass(frozen=True)
class Events:
    items: tuple[s.TaskEvent, ...] = ()
    complete: bool = True  # False when the core's bounded buffer overflowed since the previous status


def count_live_tasks(tasks: Iterable[TaskRecord]) -> LiveCounts:
    by_state: dict[str, int] = {}
    by_function: dict[str, list[int]] = {}
    for record in tasks:
        state = record.state.value
        by_state[state] = by_state.get(state, 0) + 1
        counts = by_function.get(record.task.function_name)
        if counts is None:
            counts = by_function[record.task.function_name] = [0, 0]
        if state in _RUNNING_STATES:
            counts[1] += 1
        elif state == TaskState.QUEUED.value:
            counts[0] += 1
    return LiveCounts(by_state, {name: (q, r) for name, (q, r) in by_function.items()})


def build_status(
    core: SchedulerCore,
    info: ServerInfo,
    now: float,
    *,
    sequence: int = 0,
    events: Events = Events(),
    live: LiveCounts | None = None,
) -> s.SchedulerStatus:
    """The status of ``core`` at monotonic time ``now``; ``live`` is counted here when not given."""
    live = live if live is not None else count_live_tasks(core.tasks.values())
    connected = _count_by_manager(core.workers.values())
    return s.SchedulerStatus(
        version=s.STATUS_VERSION,
        sequence=sequence,
        time=info.wall_time,
        address=info.address,
        pid=info.pid,
        uptime_s=info.uptime_s,
        cpu_percent=info.cpu_percent,
        rss=info.rss,
        free_memory=info.free_memory,
        tasks_by_state=dict(live.by_state),
        finished=dict(core.finished),
        messages_received=dict(core.received),
        messages_sent=dict(core.sent),
        workers=tuple(_worker_status(worker, now) for worker in core.workers.values()),
        managers=tuple(
            s.ManagerStatus(
                manager_id=manager_id,
                max_task_concurrency=record.heartbeat.max_task_concurrency,
                capabilities=dict(record.heartbeat.capabilities),
                reported_workers=record.heartbeat.worker_count,
                connected_workers=connected.get(manager_id, 0),
                desired=core.managers.last_desired.get(manager_id, ()),
                heartbeat_age_s=max(0.0, now - record.last_seen),
            )
            for manager_id, record in core.managers.by_id.items()
        ),
        clients=tuple(
            s.ClientStatus(_text(client.client_id), len(client.tasks), max(0.0, now - client.last_seen))
            for client in core.clients.values()
        ),
        functions=_function_stats(live.by_function, core.finished_by_function),
        events=events.items,
        events_complete=events.complete,
    )


def _worker_status(worker: WorkerRecord, now: float) -> s.WorkerStatus:
    heartbeat = worker.heartbeat
    return s.WorkerStatus(
        worker_id=_text(worker.worker_id),
        manager_id=heartbeat.manager_id,
        hostname=heartbeat.hostname,
        capabilities=dict(heartbeat.capabilities),
        agent_cpu=heartbeat.agent_cpu,
        agent_rss=heartbeat.agent_rss,
        free_memory=heartbeat.free_memory,
        processors=heartbeat.processors,
        queue_size=heartbeat.queue_size,
        free_slots=max(0, worker.free_slots),
        sent=len(worker.tasks),
        queued=heartbeat.queued_tasks,
        latency_ms=heartbeat.latency_us / 1000,
        heartbeat_age_s=max(0.0, now - worker.last_seen),
    )


def _count_by_manager(workers: Iterable[WorkerRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for worker in workers:
        counts[worker.heartbeat.manager_id] = counts.get(worker.heartbeat.manager_id, 0) + 1
    return counts


def _function_stats(
    live: Mapping[str, tuple[int, int]], finished: Mapping[tuple[str, str], int]
) -> dict[str, s.FunctionStats]:
    done: dict[str, list[int]] = {}  # name -> [succeeded, failed, canceled]
    for (name, outcome), count in finished.items():
        counts = done.setdefault(name, [0, 0, 0])
        counts[0 if outcome == _SUCCESS else 2 if outcome == _CANCELED else 1] += count
    stats = {}
    for name in sorted(live.keys() | done.keys()):
        queued, running = live.get(name, (0, 0))
        succeeded, failed, canceled = done.get(name, (0, 0, 0))
        stats[name] = s.FunctionStats(queued, running, succeeded, failed, canceled)
    return stats


def _text(identity: bytes) -> str:
    return identity.decode(errors="replace") if identity[:1].isalpha() else identity.hex()


@dataclass
class TaskEventTracker:
    """Turns the core's raw transitions into ``TaskEvent``s, with how long the finished ones took.

    It remembers when each task was last assigned, so that a task's elapsed time (assignment to end, which
    includes its wait in the worker's queue) is known even when it was not profiled.
    """

    assigned_at: dict[bytes, float] = field(default_factory=dict)

    def drain(self, core: SchedulerCore, now: float, wall_time: float) -> Events:
        raw, buffer = list(core.task_events), core.task_events
        buffer.clear()
        complete = buffer.maxlen is None or len(raw) < buffer.maxlen
        items = tuple(self._event(event, wall_time - now) for event in raw)
        if len(self.assigned_at) > len(core.tasks) + 1000:
            # Entries whose end was never seen (the buffer overflowed, or the client left): drop them.
            self.assigned_at = {task_id: t for task_id, t in self.assigned_at.items() if task_id in core.tasks}
        return Events(items, complete)

    def _event(self, event: RawEvent, wall_offset: float) -> s.TaskEvent:
        at, state, task, worker, profile = event
        elapsed, duration, peak = -1.0, -1.0, -1
        if state == TaskState.ASSIGNED.value:
            self.assigned_at[task.task_id] = at
        elif state != TaskState.QUEUED.value:
            started = self.assigned_at.pop(task.task_id, None)
            if started is not None and worker is not None:
                elapsed = at - started
            if profile is not None:
                duration, peak = profile.duration_s, profile.memory_peak_bytes
        return s.TaskEvent(
            time=at + wall_offset,
            task_id=task.task_id.hex(),
            function=task.function_name,
            state=state,
            worker=_text(worker) if worker else "",
            elapsed_s=elapsed,
            duration_s=duration,
            peak_memory=peak,
            capabilities=dict(task.capabilities),
        )


class StatusReporter:
    """The shell's side: ``encode(now, wall_time)`` returns the next status, ready to publish."""

    def __init__(self, core: SchedulerCore, address: str) -> None:
        self._core = core
        self._address = address
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only starts the measurement
        self._started = time.monotonic()
        self._sequence = 0
        self._tracker = TaskEventTracker()
        self._live: LiveCounts | None = None
        self._next_scan = 0.0

    def encode(self, now: float, wall_time: float) -> bytes:
        return s.encode_status(self.build(now, wall_time))

    def skip(self) -> None:
        """No status this time (nobody subscribes): forget the task events since the last one."""
        self._core.task_events.clear()
        self._tracker.assigned_at.clear()

    def build(self, now: float, wall_time: float) -> s.SchedulerStatus:
        core = self._core
        if self._live is None or now >= self._next_scan:
            started = time.perf_counter()
            self._live = count_live_tasks(core.tasks.values())
            # A scan that took 0.2 s is repeated only every 4 s: the monitor may lag, the tasks must not.
            self._next_scan = now + (time.perf_counter() - started) / SCAN_TIME_SHARE
        info = ServerInfo(
            address=self._address,
            pid=self._process.pid,
            wall_time=wall_time,
            uptime_s=now - self._started,
            cpu_percent=self._process.cpu_percent(None),
            rss=self._process.memory_info().rss,
            free_memory=psutil.virtual_memory().available,
        )
        self._sequence += 1
        events = self._tracker.drain(core, now, wall_time)
        return build_status(core, info, now, sequence=self._sequence, events=events, live=self._live)
