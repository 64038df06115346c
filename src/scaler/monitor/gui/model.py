"""What the web page shows, kept between statuses: the browser's data model, with no I/O.

``MonitorModel.apply(status)`` folds one scheduler status in and returns the increment to send to every
open page; ``full()`` is what a page gets when it connects. Both are plain JSON-ready dicts:

    {"type": "full" | "update",
     "status":  scheduler figures and counters (whole, they are small),
     "workers" / "managers" / "clients" / "functions": {"set": [changed rows], "del": [ids of rows gone]}
                (in "full": every row in "set"),
     "tasks":   [task log rows added or changed],      (newest last)
     "bars":    [task-stream bars added or changed],   (one per stay of a task on a worker)
     "memory":  [memory samples added]}

Everything kept is bounded (rows, bars, samples), so a GUI left open for a month uses what it used after
ten minutes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from scaler.protocol.status import SchedulerStatus, TaskEvent, WorkerStatus

Row = dict[str, Any]

MAX_TASK_ROWS = 2_000
MAX_BARS = 20_000
HISTORY_SECONDS = 30 * 60  # the longest task-stream window the page offers
MEMORY_SAMPLES = 600  # ten minutes at one status a second
MEMORY_WORKERS = 8  # workers drawn one by one on the memory chart (the largest); all are in the total
_TABLES = ("workers", "managers", "clients", "functions")
_RUNNING = "assigned"
_SUPERSEDED = "moved"  # a bar whose task was taken back (load balancing) and placed again
_UNKNOWN = "unknown"  # a bar whose end the scheduler did not report (its event buffer overflowed)


class MonitorModel:
    def __init__(self) -> None:
        self._status: Row = {}
        self._tables: dict[str, dict[str, Row]] = {name: {} for name in _TABLES}
        self._tasks: OrderedDict[str, Row] = OrderedDict()
        self._bars: OrderedDict[str, Row] = OrderedDict()
        self._running_bar: dict[str, str] = {}  # task id -> key of its open bar
        self._worker_free_at: dict[str, float] = {}  # worker id -> when its last task ended
        self._bar_serial = 0
        self._memory: list[Row] = []
        self.statuses = 0

    def full(self) -> Row:
        return {
            "type": "full",
            "status": self._status,
            **{name: {"set": list(rows.values()), "del": []} for name, rows in self._tables.items()},
            "tasks": list(self._tasks.values()),
            "bars": list(self._bars.values()),
            "memory": list(self._memory),
        }

    def apply(self, status: SchedulerStatus) -> Row:
        self.statuses += 1
        self._status = _scheduler_row(status)
        update: Row = {"type": "update", "status": self._status}
        update["workers"] = self._replace("workers", {w.worker_id: _worker_row(w) for w in status.workers})
        update["managers"] = self._replace("managers", _manager_rows(status))
        update["clients"] = self._replace(
            "clients",
            {
                c.client_id: {"id": c.client_id, "tasks": c.tasks, "age_s": round(c.heartbeat_age_s)}
                for c in status.clients
            },
        )
        update["functions"] = self._replace(
            "functions",
            {
                name: {"id": name, **{k: getattr(f, k) for k in f.__struct_fields__}}
                for name, f in status.functions.items()
            },
        )
        changed_tasks: dict[str, Row] = {}
        changed_bars: dict[str, Row] = {}
        for event in status.events:
            changed_tasks[event.task_id] = self._task_event(event)
            for bar in self._bar_event(event):
                changed_bars[bar["id"]] = bar
        for bar in self._close_orphans(status):
            changed_bars[bar["id"]] = bar
        self._trim(status.time)
        update["tasks"] = [row for key, row in changed_tasks.items() if key in self._tasks]
        update["bars"] = [bar for key, bar in changed_bars.items() if key in self._bars]
        sample = _memory_sample(status)
        self._memory.append(sample)
        del self._memory[:-MEMORY_SAMPLES]
        update["memory"] = [sample]
        return update

    # --- tables: whole rows replaced, only the differences sent ------------------------------------------------

    def _replace(self, name: str, rows: dict[str, Row]) -> Row:
        old = self._tables[name]
        self._tables[name] = rows
        changed = [row for key, row in rows.items() if old.get(key) != row]
        return {"set": changed, "del": [key for key in old if key not in rows]}

    # --- the task log ----------------------------------------------------------------------------------------

    def _task_event(self, event: TaskEvent) -> Row:
        row = self._tasks.pop(event.task_id, None)
        if row is None:
            row = {
                "id": event.task_id,
                "function": event.function,
                "capabilities": event.capabilities,
                "submitted": event.time if event.state == "queued" else None,
                "started": None,
                "ended": None,
                "elapsed_s": -1.0,
                "duration_s": -1.0,
                "peak_memory": -1,
            }
        row = {**row, "state": event.state, "worker": event.worker or row.get("worker", ""), "time": event.time}
        if event.state == _RUNNING:
            row["started"], row["ended"] = event.time, None
        elif event.state != "queued":
            row["ended"], row["elapsed_s"] = event.time, event.elapsed_s
            row["duration_s"], row["peak_memory"] = event.duration_s, event.peak_memory
        self._tasks[event.task_id] = row  # re-inserted: the log is ordered by last change
        while len(self._tasks) > MAX_TASK_ROWS:
            self._tasks.popitem(last=False)
        return row

    # --- the task stream -------------------------------------------------------------------------------------

    def _bar_event(self, event: TaskEvent) -> Iterable[Row]:
        open_key = self._running_bar.pop(event.task_id, None)
        if open_key is not None and open_key in self._bars:
            if event.state == _RUNNING:
                yield self._end_bar(open_key, event.time, _SUPERSEDED)
            else:
                yield self._end_bar(open_key, event.time, event.state, event.duration_s)
        if event.state == _RUNNING and event.worker:
            self._bar_serial += 1
            key = f"{event.task_id}:{self._bar_serial}"
            bar = {"id": key, "task": event.task_id, "function": event.function, "worker": event.worker,
                   "sent": event.time, "start": event.time, "end": None, "state": _RUNNING}  # fmt: skip
            self._bars[key] = bar
            self._running_bar[event.task_id] = key
            yield bar

    def _end_bar(self, key: str, when: float, state: str, run_time: float = -1.0) -> Row:
        """End a bar, moving its start from when the task was sent to when it most likely began to run.

        A worker runs one task at a time on its active processor, so an unprofiled task began when it was
        sent or when the worker's previous task ended, whichever is later (nested tasks, which run beside a
        suspended one, are the exception); a profiled one began its measured run time before its end.
        """
        bar = self._bars[key]
        worker = bar["worker"]
        if run_time >= 0:
            start = max(bar["sent"], when - run_time)
        else:
            start = min(when, max(bar["sent"], self._worker_free_at.get(worker, bar["sent"])))
        if state not in (_SUPERSEDED, _UNKNOWN):
            self._worker_free_at[worker] = when
        bar = {**bar, "start": start, "end": when, "state": state}
        self._bars[key] = bar
        return bar

    def _close_orphans(self, status: SchedulerStatus) -> Iterable[Row]:
        """Close the open bars that the scheduler no longer backs: a worker that holds nothing, or is gone.

        A status is one consistent moment, so a task still open here after its events were applied has ended
        unseen (its event was dropped in a burst, or its worker died before the task was moved).
        """
        busy = {w.worker_id for w in status.workers if w.sent > 0}
        connected = {w.worker_id for w in status.workers}
        for gone in self._worker_free_at.keys() - connected:
            del self._worker_free_at[gone]
        for task_id, key in list(self._running_bar.items()):
            bar = self._bars.get(key)
            if bar is None or bar["worker"] not in busy:
                del self._running_bar[task_id]
                if bar is not None:
                    yield self._end_bar(key, status.time, _UNKNOWN)

    def _trim(self, now: float) -> None:
        horizon = now - HISTORY_SECONDS
        while self._bars:
            key, bar = next(iter(self._bars.items()))
            too_many = len(self._bars) > MAX_BARS
            if not too_many and (bar["end"] is None or bar["end"] >= horizon):
                break
            del self._bars[key]
            self._running_bar.pop(bar["task"], None)


def _scheduler_row(status: SchedulerStatus) -> Row:
    return {
        "address": status.address,
        "pid": status.pid,
        "time": status.time,
        "sequence": status.sequence,
        "uptime_s": status.uptime_s,
        "cpu": status.cpu_percent,
        "rss": status.rss,
        "free_memory": status.free_memory,
        "tasks_by_state": status.tasks_by_state,
        "finished": status.finished,
        "messages_received": status.messages_received,
        "messages_sent": status.messages_sent,
        "events_complete": status.events_complete,
    }


def _worker_row(worker: WorkerStatus) -> Row:
    processors = [
        {"pid": p.pid, "cpu": p.cpu, "rss": p.rss, "busy": p.busy, "suspended": p.suspended} for p in worker.processors
    ]
    return {
        "id": worker.worker_id,
        "manager": worker.manager_id,
        "host": worker.hostname,
        "capabilities": worker.capabilities,
        "agent_cpu": worker.agent_cpu,
        "agent_rss": worker.agent_rss,
        "cpu": sum(p.cpu for p in worker.processors),
        "rss": sum(p.rss for p in worker.processors),
        "free_memory": worker.free_memory,
        "queue_size": worker.queue_size,
        "free": worker.free_slots,
        "sent": worker.sent,
        "queued": worker.queued,
        "suspended": sum(1 for p in worker.processors if p.suspended),
        "latency_ms": worker.latency_ms,
        # Rounded: a row whose only change is a few milliseconds of heartbeat age is not worth resending.
        "age_s": round(worker.heartbeat_age_s),
        "processors": processors,
    }


def _manager_rows(status: SchedulerStatus) -> dict[str, Row]:
    return {
        m.manager_id: {
            "id": m.manager_id,
            "max_task_concurrency": m.max_task_concurrency,
            "capabilities": m.capabilities,
            "reported": m.reported_workers,
            "connected": m.connected_workers,
            "desired": sum(d.task_concurrency for d in m.desired) if m.desired else None,
            "age_s": round(m.heartbeat_age_s),
        }
        for m in status.managers
    }


def _memory_sample(status: SchedulerStatus) -> Row:
    by_worker = {w.worker_id: w.agent_rss + sum(p.rss for p in w.processors) for w in status.workers}
    largest = sorted(by_worker.items(), key=lambda item: -item[1])[:MEMORY_WORKERS]
    free_by_host = {w.hostname: w.free_memory for w in status.workers}
    return {
        "t": status.time,
        "scheduler": status.rss,
        "workers": sum(by_worker.values()),
        "free": sum(free_by_host.values()),
        "by_worker": dict(largest),
    }
