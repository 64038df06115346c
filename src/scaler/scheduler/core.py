"""The scheduler's logic, with no sockets, threads or clocks (sans-I/O).

The shell feeds it ``handle(peer, message, now)`` for every decoded message and ``tick(now)`` a few times a
second, then calls ``flush()``, which places queued tasks on workers and returns everything to send,
grouped by destination so that each peer gets one batch. Tests drive it the same way, with no processes.

Guarantees kept here (see tables.py for the task states):
- every task ends, for its client, in exactly one TaskResult or TaskCancelConfirm, unless the client left;
- a worker that stops heartbeating (or whose manager reports it dead) has its unfinished tasks re-queued; a
  task that was running there, or whose processor died, is re-run up to ``MAX_WORKER_DEATHS`` times (deaths.py);
- a client that disconnects or goes silent has its tasks cancelled and its objects freed (see departures.py);
- a message from a peer that does not hold the task it talks about (a "zombie" worker) changes nothing.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from typing import Any

from scaler.ids import owner_prefix, short
from scaler.protocol import messages as m
from scaler.scheduler.allocation import place_queued_tasks, unplaceable_tasks
from scaler.scheduler.balancing import Balancer
from scaler.scheduler.deaths import MAX_DEATHS, processor_died, recover_tasks
from scaler.scheduler.departures import DepartedClients
from scaler.scheduler.flow_control import DEFAULT_CLIENT_WINDOW, FlowControl
from scaler.scheduler.graphs import accept_graph, forget_inputs, release_dependents
from scaler.scheduler.managers import ManagerDirectory
from scaler.scheduler.replies import failure_for_dependents, mismatch, no_capable_worker, rejection
from scaler.scheduler.tables import (
    NO_KEYS,
    ClientRecord,
    TaskQueue,
    TaskRecord,
    TaskState,
    WorkerRecord,
    next_sequence,
)
from scaler.scheduler.task_memory import COMPACT_AFTER_DROPPING, share_fields

logger = logging.getLogger("scaler.scheduler")

MAX_WORKER_DEATHS = MAX_DEATHS  # worker and processor deaths together
TASK_EVENT_LIMIT = 10_000  # recent transitions kept for the monitor (scheduler/status.py drains them)

# (time, state, task, worker id or None, profile or None): a plain tuple, the cheapest thing to build per task.
TaskEvent = tuple[float, str, m.Task, bytes | None, m.Profile | None]


@dataclass(frozen=True)
class SchedulerSettings:
    object_storage_address: str  # advertised to clients and workers
    client_timeout_seconds: float = 60.0
    worker_timeout_seconds: float = 60.0
    load_balance_seconds: float = 1.0
    load_balance_trigger_times: int = 2
    protected: bool = True
    max_number_of_tasks_waiting: int = -1
    manager_timeout_seconds: float = 10.0
    object_retention_seconds: float = 60.0
    client_window: int = DEFAULT_CLIENT_WINDOW  # most unfinished tasks per client (see flow_control.py)


@dataclass
class Outbox:
    to_peers: dict[bytes, list[Any]]
    to_storage: list[Any]


class SchedulerCore:
    def __init__(self, settings: SchedulerSettings, policy: Any = None) -> None:
        self.settings = settings
        self.tasks: dict[bytes, TaskRecord] = {}
        self.queue = TaskQueue()
        self.workers: dict[bytes, WorkerRecord] = {}
        self.clients: dict[bytes, ClientRecord] = {}
        self.clients_joined = 0  # ever: the shell tells object storage of each new client before it is answered
        self._nested: dict[bytes, set[bytes]] = {}  # client id -> the nested clients that work for it
        self.managers = ManagerDirectory(policy, settings.manager_timeout_seconds)
        self.balancer = Balancer(settings.load_balance_seconds, settings.load_balance_trigger_times, policy)
        self.stop_requested = False
        self.received: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()
        self.finished_by_function: Counter[tuple[str, str]] = Counter()  # (function name, outcome)
        # Bounded, so a scheduler that nobody drains (or that outruns the monitor) never grows; O(1) per task.
        self.task_events: deque[TaskEvent] = deque(maxlen=TASK_EVENT_LIMIT)
        self.now = 0.0  # the latest time handle()/tick() were given: stamps task events without a clock
        self._out: defaultdict[bytes, list[Any]] = defaultdict(list)
        self._to_storage: list[Any] = []
        self._departed = DepartedClients(settings.object_retention_seconds)
        self.flow = FlowControl(settings.max_number_of_tasks_waiting, settings.client_window)
        self._interned: dict[bytes | str, bytes | str] = {}  # function ids and names shared by queued tasks
        self.heap_trim_due = False  # a large drop freed memory the shell may hand back to the OS
        self._next_unplaceable_scan = 0.0
        self.instance_id = os.urandom(8)  # echoed to every peer, so that they notice when this scheduler restarts
        # How many times the object storage this scheduler started was restarted (bumped by the shell, which owns
        # the child process): echoed to clients, so that they re-upload what the new, empty storage lacks.
        self.storage_epoch = 0

    # --- the shell's interface ---------------------------------------------------------------------------------

    def handle(self, peer: bytes, message: Any, now: float) -> None:
        self.now = now
        self.received[type(message).__name__] += 1
        handler = self._handlers.get(type(message))
        if handler is None:
            logger.warning("dropping unexpected %s from %s", type(message).__name__, short(peer))
            return
        handler(self, peer, message, now)

    def tick(self, now: float) -> None:
        self.now = now
        self._expire_clients(now)
        self._delete_departed_objects(now)
        self._expire_workers(now)
        self.managers.expire(now)
        self._fail_unplaceable_tasks(now)
        self._balance(now)

    def connected_peers(self) -> list[bytes]:
        """Every peer connected now: clients, then workers, then worker managers."""
        return [*self.clients, *self._worker_side_peers()]

    def flush(self) -> Outbox:
        place_queued_tasks(self.queue, self.tasks, self.workers, self._assign)
        if self.balancer.due_now:  # a worker joined or ran dry: it gets its share now, not at the next tick
            self._balance(self.now)
        for client_id, credit in self.flow.grants(len(self.queue), self._free_slots, self._unfinished):
            self._out[client_id].append(credit)
        for peer, messages in self.managers.take_outbox().items():
            self._out[peer].extend(messages)
        if not self._out and not self._to_storage:  # e.g. a TaskStarted: it needs no answer
            return Outbox({}, [])
        out, self._out = self._out, defaultdict(list)
        storage, self._to_storage = self._to_storage, []
        sent = self.sent
        for messages in out.values():
            for message in messages:
                sent[type(message).__name__] += 1
        return Outbox(out, storage)

    # --- clients -----------------------------------------------------------------------------------------------

    def _on_client_heartbeat(self, peer: bytes, message: m.ClientHeartbeat, now: float) -> None:
        if message.protocol_version != m.PROTOCOL_VERSION:
            self._send(peer, mismatch(message.protocol_version))
            return
        client = self.clients.get(peer)
        reason = self._departed.reason(peer) if client is None else None
        if reason is not None:
            self._send(peer, m.ClientDropped(reason))
            return
        if client is None:
            logger.info("client %s connected", short(peer))
            self.clients[peer] = ClientRecord(peer, now)
            self.clients_joined += 1
            if message.parent_task_id:
                self._adopt(peer, message.parent_task_id)
            credit = self.flow.client_joined(peer)
            if credit is not None:  # before the echo, so the client can submit as soon as it is connected
                self._send(peer, credit)
        else:
            client.last_seen = now
        echo = m.ClientHeartbeatEcho(self.settings.object_storage_address, self.instance_id, self.storage_epoch)
        self._send(peer, echo)

    def _adopt(self, nested_id: bytes, parent_task_id: bytes) -> None:
        """A client created inside a task works for that task's client: it leaves when that client leaves (whose
        tasks, the one running it included, are being cancelled), instead of when it times out."""
        parent = self.tasks.get(parent_task_id)
        if parent is not None and parent.task.client_id in self.clients:
            self.clients[nested_id].works_for = parent.task.client_id
            self._nested.setdefault(parent.task.client_id, set()).add(nested_id)

    def _on_task(self, peer: bytes, task: m.Task, now: float) -> None:
        client = self._touch_client(peer, now)
        refusal = self.flow.on_task(peer, task.priority, len(self.queue), len(client.tasks) if client else 0)
        if client is None or refusal is not None:
            self._send(peer, rejection(task.task_id, refusal or "client is not connected"))
            return
        if task.task_id in self.tasks:
            logger.warning("dropping duplicate task %s from %s", task.task_id.hex(), short(peer))
            return
        share_fields(task, client.client_id, self._interned)
        keys = frozenset(task.capabilities) if task.capabilities else NO_KEYS
        record = TaskRecord(task, TaskState.QUEUED, next_sequence(), now, required_keys=keys)
        self.tasks[task.task_id] = record
        client.tasks.add(task.task_id)
        self.queue.push(task.task_id, task.priority, record.sequence)
        self.task_events.append((now, "queued", task, None, None))

    def _on_credit_request(self, peer: bytes, request: m.SubmitCreditRequest, now: float) -> None:
        if self._touch_client(peer, now) is not None:
            self.flow.on_request(peer, request)

    def _unfinished(self, client_id: bytes) -> int:
        client = self.clients.get(client_id)
        return len(client.tasks) if client is not None else 0

    def _free_slots(self) -> int:
        return sum(max(0, worker.free_slots) for worker in self.workers.values())

    def _on_graph_task(self, peer: bytes, graph: m.GraphTask, now: float) -> None:
        client = self._touch_client(peer, now)
        if client is None:
            for target in graph.targets:
                self._send(peer, rejection(target, "client is not connected: send a ClientHeartbeat first"))
            return
        accept_graph(self, client, graph, now)

    def _on_task_cancel(self, peer: bytes, message: m.TaskCancel, now: float) -> None:
        self._touch_client(peer, now)
        record = self.tasks.get(message.task_id)
        if record is None or record.task.client_id != peer:
            self._send(peer, m.TaskCancelConfirm(message.task_id, m.CancelOutcome.NOT_FOUND))
            return
        if record.state in (TaskState.QUEUED, TaskState.WAITING):
            self.queue.discard(message.task_id)
            self._finish(record, m.TaskCancelConfirm(message.task_id, m.CancelOutcome.CANCELED), "canceled")
        elif record.state is TaskState.ASSIGNED:
            record.state = TaskState.CANCELING
            assert record.worker is not None
            self._send(record.worker, m.TaskCancel(message.task_id, force=True))
        else:  # already being cancelled or taken back by the balancer: answer when the worker confirms
            record.cancel_requested = True

    def _on_objects_released(self, peer: bytes, message: m.ObjectsReleased, now: float) -> None:
        self._touch_client(peer, now)
        for worker_id in self.workers:
            self._send(worker_id, m.ObjectsReleased(peer, message.object_ids))  # the sender's own objects only

    def _on_client_disconnect(self, peer: bytes, message: m.ClientDisconnect, now: float) -> None:
        if message.shutdown:
            if self.settings.protected:
                self._send(peer, m.ShutdownResponse(False, "scheduler is protected: shutdown refused"))
                logger.warning("refused shutdown request from %s: scheduler is protected", short(peer))
                return
            self._send(peer, m.ShutdownResponse(True, ""))
            logger.info("shutdown requested by %s", short(peer))
            for recipient in self._worker_side_peers():
                self._send(recipient, m.WorkerShutdown("scheduler shut down by a client"))
            self.stop_requested = True
        self._drop_client(peer, "disconnected")

    def _worker_side_peers(self) -> list[bytes]:
        """The workers and the worker managers: who a shutdown of the whole cluster reaches."""
        return [*self.workers, *(record.peer for record in self.managers.by_id.values())]

    def _touch_client(self, peer: bytes, now: float) -> ClientRecord | None:
        client = self.clients.get(peer)
        if client is not None:
            client.last_seen = now  # any message proves liveness, so a busy client is never expired
        return client

    def _expire_clients(self, now: float) -> None:
        limit = self.settings.client_timeout_seconds
        for client in [c for c in self.clients.values() if now - c.last_seen > limit]:
            self._drop_client(client.client_id, f"timed out after {limit:g}s without heartbeat", silent=True)

    def _delete_departed_objects(self, now: float) -> None:
        for client_id in self._departed.objects_due(now):
            self._to_storage.append(m.ObjectDeleteOwner(owner_prefix(client_id), 0))

    def _drop_client(self, client_id: bytes, why: str, silent: bool = False) -> None:
        client = self.clients.pop(client_id, None)
        if client is None:
            return
        if client.works_for is not None:
            self._nested.get(client.works_for, set()).discard(client_id)
        for nested_id in self._nested.pop(client_id, ()):  # silent: a nested client that calls again is told why
            self._drop_client(nested_id, f"worked for client {short(client_id)}, which left", silent=True)
        logger.info("client %s %s: cancelling %d task(s)", short(client_id), why, len(client.tasks))
        self.flow.client_left(client_id)
        for task_id in client.tasks:
            record = self.tasks.pop(task_id, None)
            if record is None:
                continue
            self.queue.discard(task_id)
            if record.worker is not None:
                worker = self.workers.get(record.worker)
                if worker is not None and record.state is not TaskState.CANCELING:
                    self._send(worker.worker_id, m.TaskCancel(task_id, force=True))
                # The worker keeps the slot until it confirms, so the task id stays on its list.
        if silent:  # perhaps only cut off: see scheduler/departures.py
            self._departed.dropped(client_id, why, self.now)
        else:
            self._to_storage.append(m.ObjectDeleteOwner(owner_prefix(client_id), 0))
        for worker_id in self.workers:  # no new task can use them: the processors' copies go at once
            self._send(worker_id, m.ObjectsReleased(client_id))
        if len(client.tasks) >= COMPACT_AFTER_DROPPING:  # hand the memory of a large drop back (see task_memory)
            self.tasks = dict(self.tasks)
            self.queue.compact()
            self._interned.clear()
            self.heap_trim_due = True

    # --- workers -----------------------------------------------------------------------------------------------

    def _on_worker_heartbeat(self, peer: bytes, message: m.WorkerHeartbeat, now: float) -> None:
        if message.protocol_version != m.PROTOCOL_VERSION:
            self._send(peer, mismatch(message.protocol_version))
            return
        worker = self.workers.get(peer)
        if worker is None:
            logger.info(
                "worker %s connected (manager %r, capabilities %s)",
                short(peer),
                message.manager_id,
                message.capabilities or "{}",
            )
            self.workers[peer] = WorkerRecord(peer, message, now, frozenset(message.capabilities))
            self.balancer.worker_joined()
        else:
            worker.heartbeat = message
            worker.last_seen = now
        self._send(peer, m.WorkerHeartbeatEcho(self.settings.object_storage_address, self.instance_id))

    def _on_task_result(self, peer: bytes, result: m.TaskResult, now: float) -> None:
        worker = self._touch_worker(peer, now)
        record = self.tasks.get(result.task_id)
        if worker is not None:
            worker.tasks.pop(result.task_id, None)
            if not worker.tasks:
                self.balancer.worker_ran_dry(now)  # others' queued tasks may come here (balancing.py)
        if record is None or record.worker != peer:
            return  # a zombie's result, or one for a task whose client left
        if result.status is m.ResultStatus.PROCESSOR_DIED:
            processor_died(self, record, peer, result)
            return
        # A result that raced a cancel wins: the work is done, so the client gets it.
        self._finish(record, result, result.status.name.lower())

    def _on_task_started(self, peer: bytes, message: m.TaskStarted, now: float) -> None:
        self._touch_worker(peer, now)
        record = self.tasks.get(message.task_id)
        if record is not None and record.worker == peer:
            record.started = True

    def _on_cancel_confirm(self, peer: bytes, confirm: m.TaskCancelConfirm, now: float) -> None:
        worker = self._touch_worker(peer, now)
        record = self.tasks.get(confirm.task_id)
        gave_up = confirm.outcome is not m.CancelOutcome.NOT_CANCELED
        if worker is not None and gave_up:
            worker.tasks.pop(confirm.task_id, None)
        if record is None or record.worker != peer:
            return
        if not gave_up:  # it is running there (so it started, whether or not TaskStarted came): its result will come
            record.started = True
            record.state = TaskState.CANCELING if record.cancel_requested else TaskState.ASSIGNED
            return
        record.worker = None
        if record.state is TaskState.CANCELING or record.cancel_requested:
            self._finish(record, m.TaskCancelConfirm(confirm.task_id, m.CancelOutcome.CANCELED), "canceled")
        else:  # the balancer took it back: place it again
            self._requeue(record)

    def _on_task_log(self, peer: bytes, log: m.TaskLog, now: float) -> None:
        record = self.tasks.get(log.task_id)
        if record is not None:
            self._send(record.task.client_id, log)

    def _on_worker_disconnect(self, peer: bytes, message: m.WorkerDisconnect, now: float) -> None:
        self._drop_worker(peer, f"disconnected ({message.reason})", graceful=True)

    def _on_worker_died(self, peer: bytes, message: m.WorkerDied, now: float) -> None:
        self._drop_worker(message.worker_id, f"reported dead by its manager (exit code {message.exit_code})")

    def _touch_worker(self, peer: bytes, now: float) -> WorkerRecord | None:
        worker = self.workers.get(peer)
        if worker is not None:
            worker.last_seen = now
        return worker

    def _expire_workers(self, now: float) -> None:
        limit = self.settings.worker_timeout_seconds
        for worker in [w for w in self.workers.values() if now - w.last_seen > limit]:
            self._drop_worker(worker.worker_id, f"timed out after {limit:g}s without heartbeat")

    def _drop_worker(self, worker_id: bytes, why: str, graceful: bool = False) -> None:
        """Forget a worker and re-queue its unfinished tasks (deaths.py decides which deaths count)."""
        worker = self.workers.pop(worker_id, None)
        if worker is None:
            return
        level = logging.WARNING if worker.tasks else logging.INFO  # a clean exit with nothing to recover is news only
        logger.log(level, "worker %s %s: recovering %d task(s)", short(worker_id), why, len(worker.tasks))
        recover_tasks(self, worker, graceful)

    # --- worker managers ---------------------------------------------------------------------------------------

    def _on_manager_heartbeat(self, peer: bytes, message: m.WorkerManagerHeartbeat, now: float) -> None:
        if message.protocol_version != m.PROTOCOL_VERSION:
            self._send(peer, mismatch(message.protocol_version))
            return
        self.managers.on_heartbeat(peer, message, now, self.workers, self.tasks)

    # --- task bookkeeping --------------------------------------------------------------------------------------

    def _assign(self, record: TaskRecord, worker: WorkerRecord) -> None:
        record.state = TaskState.ASSIGNED
        record.worker = worker.worker_id
        worker.tasks[record.task.task_id] = None
        self._out[worker.worker_id].append(record.task)
        self.task_events.append((self.now, "assigned", record.task, worker.worker_id, None))

    def _requeue(self, record: TaskRecord) -> None:
        record.state = TaskState.QUEUED
        record.worker = None
        record.started = False
        self.queue.push(record.task.task_id, record.task.priority, record.sequence)

    def _balance(self, now: float) -> None:
        for worker_id, task_ids in self.balancer.tick(self.workers, self.tasks, now).items():
            logger.info("balancing: taking %d queued task(s) back from %s", len(task_ids), short(worker_id))
            for task_id in task_ids:
                self._balance_cancel(worker_id, task_id)

    def _balance_cancel(self, worker_id: bytes, task_id: bytes) -> None:
        record = self.tasks.get(task_id)
        if record is None or record.worker != worker_id or record.state is not TaskState.ASSIGNED:
            return
        record.state = TaskState.BALANCING
        self._send(worker_id, m.TaskCancel(task_id, force=False))

    def _finish(self, record: TaskRecord, message: Any, outcome: str) -> None:
        """End a task for good and tell its client; then queue its graph dependents, or end them all with it."""
        self._end(record, message, outcome)
        if record.dependents:
            succeeded = isinstance(message, m.TaskResult) and message.status is m.ResultStatus.SUCCESS
            release_dependents(self, record, message if succeeded else failure_for_dependents(message))

    def _end(self, record: TaskRecord, message: Any, outcome: str) -> None:
        """``_finish`` without touching dependents (graphs.py walks those itself, iteratively)."""
        task_id = record.task.task_id
        del self.tasks[task_id]
        if record.state is TaskState.WAITING and record.depends_on:
            forget_inputs(self, record)  # a graph node that never ran: the results kept for it may go
        self.finished[outcome] += 1
        self.finished_by_function[record.task.function_name, outcome] += 1
        profile = message.profile if isinstance(message, m.TaskResult) else None
        self.task_events.append((self.now, outcome, record.task, record.worker, profile))
        client = self.clients.get(record.task.client_id)
        if client is not None:
            client.tasks.discard(task_id)
            if record.reported:
                self._send(client.client_id, message)

    def _fail_unplaceable_tasks(self, now: float) -> None:
        # The scan is O(queued tasks): on a long queue every tick would take the scheduler's whole time.
        if len(self.queue) > 10_000 and now < self._next_unplaceable_scan:
            return
        self._next_unplaceable_scan = now + 5.0
        for record in unplaceable_tasks(self.queue, self.tasks, self.workers, self.managers.could_provide, now):
            self.queue.discard(record.task.task_id)
            self._finish(record, no_capable_worker(record.task.task_id, record.required_keys), "no_capable_worker")

    def _send(self, peer: bytes, message: Any) -> None:
        self._out[peer].append(message)

    _handlers: dict[type, Any] = {
        m.ClientHeartbeat: _on_client_heartbeat,
        m.Task: _on_task,
        m.GraphTask: _on_graph_task,
        m.TaskCancel: _on_task_cancel,
        m.ObjectsReleased: _on_objects_released,
        m.ClientDisconnect: _on_client_disconnect,
        m.SubmitCreditRequest: _on_credit_request,
        m.WorkerHeartbeat: _on_worker_heartbeat,
        m.TaskResult: _on_task_result,
        m.TaskCancelConfirm: _on_cancel_confirm,
        m.TaskLog: _on_task_log,
        m.TaskStarted: _on_task_started,
        m.WorkerDisconnect: _on_worker_disconnect,
        m.WorkerDied: _on_worker_died,
        m.WorkerManagerHeartbeat: _on_manager_heartbeat,
    }
