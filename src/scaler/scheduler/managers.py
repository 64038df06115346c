"""Worker managers as the scheduler sees them: registration, liveness, and their desired concurrency.

On each manager heartbeat the scheduler answers with an echo (refusing a second manager that claims an id
already held by a live peer) and, when the scaling policy has an opinion, a WorkerManagerCommand stating the
whole desired picture for that manager (declarative, not a delta, so a lost message is harmless).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from typing import Any

from scaler.ids import short
from scaler.protocol import messages as m
from scaler.scheduler.policy.views import DemandView, ManagerView
from scaler.scheduler.tables import ManagerRecord, TaskRecord, WorkerRecord

logger = logging.getLogger("scaler.scheduler")


class ManagerDirectory:
    def __init__(self, policy: Any, timeout_seconds: float) -> None:
        self._policy = policy
        self._timeout = timeout_seconds
        self.by_id: dict[str, ManagerRecord] = {}
        self.last_desired: dict[str, tuple[m.DesiredTaskConcurrency, ...]] = {}
        self._out: defaultdict[bytes, list[Any]] = defaultdict(list)

    def on_heartbeat(
        self,
        peer: bytes,
        heartbeat: m.WorkerManagerHeartbeat,
        now: float,
        workers: dict[bytes, WorkerRecord],
        tasks: dict[bytes, TaskRecord],
    ) -> None:
        existing = self.by_id.get(heartbeat.manager_id)
        if existing is not None and existing.peer != peer:
            text = f"worker manager id {heartbeat.manager_id!r} is already in use by another live manager"
            logger.error("refusing manager %s: %s", short(peer), text)
            self._out[peer].append(m.WorkerManagerHeartbeatEcho(False, text))
            return
        if existing is None:
            logger.info(
                "worker manager %r connected (max task concurrency %d)",
                heartbeat.manager_id,
                heartbeat.max_task_concurrency,
            )
            self.by_id[heartbeat.manager_id] = ManagerRecord(peer, heartbeat, now)
        else:
            existing.heartbeat = heartbeat
            existing.last_seen = now
        self._out[peer].append(m.WorkerManagerHeartbeatEcho(True, ""))
        if self._policy is None:
            return
        views = self._views(workers)
        desired = self._policy.desired_concurrency(
            views[heartbeat.manager_id], list(views.values()), _demand(workers, tasks)
        )
        if desired is None:
            return
        command = tuple(m.DesiredTaskConcurrency(dict(d.capabilities), d.task_concurrency) for d in desired)
        self.last_desired[heartbeat.manager_id] = command
        self._out[peer].append(m.WorkerManagerCommand(command))

    def could_provide(self, keys: frozenset[str]) -> bool:
        if self._policy is None or not self.by_id:
            return False
        views = [_view(record, 0) for record in self.by_id.values()]
        return bool(self._policy.could_provide(keys, views))

    def expire(self, now: float) -> None:
        for manager_id in [i for i, r in self.by_id.items() if now - r.last_seen > self._timeout]:
            logger.warning("worker manager %r timed out after %gs without heartbeat", manager_id, self._timeout)
            del self.by_id[manager_id]
            self.last_desired.pop(manager_id, None)

    def take_outbox(self) -> dict[bytes, list[Any]]:
        if not self._out:
            return {}
        out, self._out = self._out, defaultdict(list)
        return out

    def _views(self, workers: dict[bytes, WorkerRecord]) -> dict[str, ManagerView]:
        counts = Counter(worker.heartbeat.manager_id for worker in workers.values())
        return {manager_id: _view(record, counts[manager_id]) for manager_id, record in self.by_id.items()}


def _view(record: ManagerRecord, worker_count: int) -> ManagerView:
    heartbeat = record.heartbeat
    return ManagerView(heartbeat.manager_id, heartbeat.max_task_concurrency, heartbeat.capabilities, worker_count)


def _demand(workers: dict[bytes, WorkerRecord], tasks: dict[bytes, TaskRecord]) -> DemandView:
    by_keys = Counter(record.required_keys for record in tasks.values())
    return DemandView(total_tasks=len(tasks), tasks_by_capability_keys=dict(by_keys), total_workers=len(workers))
