"""The scheduler's monitor status, built from a SchedulerCore driven by messages: no sockets, no processes."""

from __future__ import annotations

import msgspec
import pytest

from scaler.protocol import messages as m
from scaler.protocol.status import FunctionStats, SchedulerStatus, StatusDecodeError, decode_status, encode_status
from scaler.scheduler.core import TASK_EVENT_LIMIT, SchedulerCore, SchedulerSettings
from scaler.scheduler.policy.engine import make_policy_engine
from scaler.scheduler.status import (
    ServerInfo,
    StatusReporter,
    TaskEventTracker,
    build_status,
    count_live_tasks,
)

CLIENT = b"Client|test"
W1, W2 = b"Worker|one", b"Worker|two"
MANAGER = b"Manager|peer"
INFO = ServerInfo("tcp://127.0.0.1:1", 42, wall_time=1000.0, uptime_s=5.0, cpu_percent=3.0, rss=1 << 20, free_memory=2)


def make_core(policy: str = "allocate=even_load; scaling=no") -> SchedulerCore:
    return SchedulerCore(SchedulerSettings("tcp://127.0.0.1:2"), make_policy_engine("simple", policy))


def heartbeat(queue_size: int = 2, manager: str = "mgr", processors: int = 1) -> m.WorkerHeartbeat:
    procs = tuple(m.ProcessorStatus(100 + i, 50.0, 1000, True, i < processors - 1) for i in range(processors))
    return m.WorkerHeartbeat(
        m.PROTOCOL_VERSION, {"gpu": 1}, queue_size, 0, manager, "host", 1.5, 2000, 3000, procs, 4500
    )


def task(n: int, function: str = "f", capabilities: dict[str, int] | None = None) -> m.Task:
    return m.Task(n.to_bytes(4, "big"), CLIENT, b"f", b"", (), {}, capabilities or {}, 0, 0, function)


def success(n: int, profile: m.Profile | None = None) -> m.TaskResult:
    return m.TaskResult(task(n).task_id, m.ResultStatus.SUCCESS, m.TaskArg(m.ArgKind.INLINE, b"x"), profile)


def failure(n: int) -> m.TaskResult:
    return m.TaskResult(task(n).task_id, m.ResultStatus.FAILED, m.TaskArg(m.ArgKind.INLINE, b"x"), None)


def connect(core: SchedulerCore, now: float = 0.0, **kw: object) -> None:
    core.handle(CLIENT, m.ClientHeartbeat(m.PROTOCOL_VERSION, CLIENT, 0.0, 0), now)
    for worker in (W1, W2):
        core.handle(worker, heartbeat(**kw), now)  # type: ignore[arg-type]
    core.flush()


def test_counts_tasks_by_state_and_by_function() -> None:
    core = make_core()
    connect(core, queue_size=1)
    for n in range(5):
        core.handle(CLIENT, task(n, "square" if n < 3 else "cube"), 1.0)
    core.flush()  # two placed (one per worker), three queued
    core.handle(W1, success(0), 2.0)
    core.flush()  # the freed slot takes the next queued task
    status = build_status(core, INFO, 3.0)
    assert status.tasks_by_state == {"assigned": 2, "queued": 2}
    assert status.finished == {"success": 1}
    assert status.functions["square"] == FunctionStats(queued=0, running=2, succeeded=1, failed=0, canceled=0)
    assert (status.functions["cube"].queued, status.functions["cube"].running) == (2, 0)
    assert status.messages_received["Task"] == 5 and status.messages_sent["Task"] == 3


def test_function_outcomes_are_counted_after_tasks_leave_the_table() -> None:
    core = make_core()
    connect(core)
    for n in range(3):
        core.handle(CLIENT, task(n, "g"), 1.0)
    core.flush()
    worker_of = {task_id: worker_id for worker_id, record in core.workers.items() for task_id in record.tasks}
    core.handle(worker_of[task(0).task_id], success(0), 2.0)
    core.handle(worker_of[task(1).task_id], failure(1), 2.0)
    core.handle(CLIENT, m.TaskCancel(task(2).task_id, True), 2.0)
    core.handle(worker_of[task(2).task_id], m.TaskCancelConfirm(task(2).task_id, m.CancelOutcome.CANCELED), 2.5)
    stats = build_status(core, INFO, 3.0).functions["g"]
    assert (stats.queued, stats.running, stats.succeeded, stats.failed, stats.canceled) == (0, 0, 1, 1, 1)


def test_workers_managers_and_clients_are_described() -> None:
    core = make_core("allocate=capability; scaling=vanilla")
    core.handle(MANAGER, m.WorkerManagerHeartbeat(m.PROTOCOL_VERSION, "mgr", 8, {"gpu": 1}, 1), 0.0)
    connect(core, processors=2)
    core.handle(CLIENT, task(1), 1.0)
    core.flush()
    core.handle(MANAGER, m.WorkerManagerHeartbeat(m.PROTOCOL_VERSION, "mgr", 8, {"gpu": 1}, 2), 1.0)
    status = build_status(core, INFO, 4.0)
    workers = {w.worker_id: w for w in status.workers}
    assert set(workers) == {"Worker|one", "Worker|two"}
    busy = next(w for w in status.workers if w.sent == 1)
    assert (busy.manager_id, busy.hostname, busy.capabilities) == ("mgr", "host", {"gpu": 1})
    assert (busy.agent_cpu, busy.agent_rss, busy.free_memory, busy.latency_ms) == (1.5, 2000, 3000, 4.5)
    assert (busy.queue_size, busy.free_slots, busy.heartbeat_age_s) == (2, 1, 4.0)
    assert [p.suspended for p in busy.processors] == [True, False]
    (manager,) = status.managers
    assert (manager.manager_id, manager.reported_workers, manager.connected_workers) == ("mgr", 2, 2)
    assert manager.max_task_concurrency == 8 and manager.heartbeat_age_s == 3.0
    assert sum(d.task_concurrency for d in manager.desired) >= 1  # vanilla scaling sent a command
    (client,) = status.clients
    assert (client.client_id, client.tasks) == ("Client|test", 1)
    assert (status.address, status.pid, status.cpu_percent, status.rss) == ("tcp://127.0.0.1:1", 42, 3.0, 1 << 20)


def test_events_carry_wall_times_workers_and_durations() -> None:
    core = make_core()
    connect(core, queue_size=1)
    core.handle(CLIENT, task(1, "slow", {"gpu": 1}), 10.0)
    core.handle(CLIENT, task(2, "fast"), 10.0)
    core.flush()
    core.handle(W1 if task(1).task_id in core.workers[W1].tasks else W2, success(1), 12.5)
    holder = W1 if task(2).task_id in core.workers[W1].tasks else W2
    core.handle(holder, success(2, m.Profile(0.25, 0.2, 5000)), 13.0)
    events = TaskEventTracker().drain(core, now=20.0, wall_time=1000.0)
    assert events.complete
    by_state = [(e.function, e.state) for e in events.items]
    assert by_state == [
        ("slow", "queued"), ("fast", "queued"), ("slow", "assigned"), ("fast", "assigned"),
        ("slow", "success"), ("fast", "success"),
    ]  # fmt: skip
    slow_done, fast_done = events.items[4], events.items[5]
    assert slow_done.time == pytest.approx(992.5)  # wall = wall_time - (now - event time)
    assert slow_done.elapsed_s == pytest.approx(2.5)  # from assignment to result
    assert (slow_done.duration_s, slow_done.peak_memory) == (-1, -1)  # not profiled
    assert fast_done.elapsed_s == pytest.approx(3.0)
    assert (fast_done.duration_s, fast_done.peak_memory) == (0.25, 5000)  # the worker's own profile
    assert slow_done.capabilities == {"gpu": 1} and slow_done.worker.startswith("Worker|")
    assert events.items[0].worker == "" and events.items[0].elapsed_s == -1
    assert not core.task_events  # drained


def test_event_overflow_is_reported_and_never_grows_without_bound() -> None:
    core = make_core()
    connect(core, queue_size=TASK_EVENT_LIMIT)
    for n in range(TASK_EVENT_LIMIT):
        core.handle(CLIENT, task(n), 1.0)
    core.flush()  # TASK_EVENT_LIMIT "queued" + as many "assigned": half were dropped
    tracker = TaskEventTracker()
    events = tracker.drain(core, 2.0, 2.0)
    assert len(events.items) == TASK_EVENT_LIMIT and not events.complete
    assert len(tracker.assigned_at) <= len(core.tasks) + 1000
    for worker_id, worker in core.workers.items():  # finish everything: the tracker forgets them all
        for task_id in list(worker.tasks):
            core.handle(worker_id, m.TaskResult(task_id, m.ResultStatus.SUCCESS, None, None), 3.0)
    tracker.drain(core, 3.0, 3.0)
    assert tracker.assigned_at == {}


def test_status_survives_an_encode_decode_round_trip() -> None:
    core = make_core()
    connect(core)
    core.handle(CLIENT, task(1), 1.0)
    core.flush()
    status = build_status(core, INFO, 2.0, sequence=7, events=TaskEventTracker().drain(core, 2.0, 100.0))
    assert decode_status(encode_status(status)) == status


@pytest.mark.parametrize(
    "frame",
    [b"", b"\xc1", b"garbage", msgspec.msgpack.encode([1, 2, 3]), msgspec.msgpack.encode({"a": 1})],
)
def test_garbage_is_refused_with_a_clear_error(frame: bytes) -> None:
    with pytest.raises(StatusDecodeError, match="undecodable status"):
        decode_status(frame)


def test_reporter_measures_itself_and_numbers_its_statuses() -> None:
    core = make_core()
    connect(core)
    reporter = StatusReporter(core, "tcp://127.0.0.1:1")
    first = reporter.build(1.0, 1000.0)
    second = decode_status(reporter.encode(2.0, 1001.0))
    assert isinstance(first, SchedulerStatus) and (first.sequence, second.sequence) == (1, 2)
    assert first.rss > 0 and first.free_memory > 0 and first.pid > 0
    assert len(second.workers) == 2


def test_live_counts_are_one_pass_over_the_table() -> None:
    core = make_core()
    connect(core, queue_size=1)
    for n in range(4):
        core.handle(CLIENT, task(n, "h"), 1.0)
    core.flush()
    live = count_live_tasks(core.tasks.values())
    assert live.by_state == {"assigned": 2, "queued": 2} and live.by_function == {"h": (2, 2)}
