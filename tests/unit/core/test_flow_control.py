"""Back-pressure in the scheduler core: submit credits, the queue limit, and a departed client's memory."""

from __future__ import annotations

from scaler.protocol import messages as m
from scaler.scheduler.core import SchedulerCore, SchedulerSettings
from scaler.scheduler.tables import TaskQueue

CLIENT, OTHER = b"Client|flow", b"Client|other"
W1 = b"Worker|one"


def make_core(**overrides: object) -> SchedulerCore:
    settings = SchedulerSettings(object_storage_address="tcp://127.0.0.1:2", **overrides)  # type: ignore[arg-type]
    return SchedulerCore(settings, policy=None)


def task(n: int, client: bytes = CLIENT, priority: int = 0) -> m.Task:
    return m.Task(n.to_bytes(4, "big") + client, client, b"f" * 32, b"", (), {}, {}, priority, 0, "f")


def connect(core: SchedulerCore, client: bytes = CLIENT, now: float = 0.0) -> list[object]:
    core.handle(client, m.ClientHeartbeat(m.PROTOCOL_VERSION, client, 0.0, 0), now)
    return core.flush().to_peers.get(client, [])


def credits_in(messages: list[object]) -> int:
    return sum(message.credits for message in messages if isinstance(message, m.SubmitCredit))


def worker_heartbeat(queue_size: int) -> m.WorkerHeartbeat:
    return m.WorkerHeartbeat(m.PROTOCOL_VERSION, {}, queue_size, 0, "mgr", "host", 0.0, 0, 0, (), 0)


def test_without_a_queue_limit_a_client_gets_its_window_before_the_echo() -> None:
    core = make_core(client_window=50)
    messages = connect(core)
    assert [type(message) for message in messages] == [m.SubmitCredit, m.ClientHeartbeatEcho]
    assert credits_in(messages) == 50


def test_the_window_bounds_unfinished_tasks_and_results_reopen_it() -> None:
    core = make_core(client_window=10)
    connect(core)
    for n in range(10):
        core.handle(CLIENT, task(n), 1.0)
    assert credits_in(core.flush().to_peers.get(CLIENT, [])) == 0  # 10 unfinished: the window is full
    core.handle(W1, worker_heartbeat(queue_size=4), 1.0)
    core.flush()
    for n in range(4):
        result = m.TaskResult(task(n).task_id, m.ResultStatus.SUCCESS, None, None)
        core.handle(W1, result, 2.0)
    assert credits_in(core.flush().to_peers[CLIENT]) == 4  # exactly the room the finished tasks made


def test_with_a_queue_limit_credits_come_on_request_and_never_overfill_the_queue() -> None:
    core = make_core(max_number_of_tasks_waiting=8)
    assert credits_in(connect(core)) == 0  # a shared pool: nothing for a client that has not asked
    core.handle(CLIENT, m.SubmitCreditRequest(100, 0), 1.0)
    granted = credits_in(core.flush().to_peers[CLIENT])
    assert granted == 8
    for n in range(granted):
        core.handle(CLIENT, task(n), 1.0)
    core.handle(CLIENT, m.SubmitCreditRequest(100, 0), 1.0)
    assert credits_in(core.flush().to_peers.get(CLIENT, [])) == 0  # 8 queued: full
    assert len(core.queue) == 8
    core.handle(W1, worker_heartbeat(queue_size=5), 2.0)  # five leave the queue for the worker
    out = core.flush().to_peers
    assert len([t for t in out[W1] if isinstance(t, m.Task)]) == 5
    assert credits_in(out[CLIENT]) == 5
    assert len(core.queue) + core.flow.outstanding == 8


def test_two_clients_share_the_queue_limit() -> None:
    core = make_core(max_number_of_tasks_waiting=10)
    connect(core, CLIENT)
    connect(core, OTHER)
    core.handle(CLIENT, m.SubmitCreditRequest(100, 0), 1.0)
    core.handle(OTHER, m.SubmitCreditRequest(100, 0), 1.0)
    out = core.flush().to_peers
    first, second = credits_in(out[CLIENT]), credits_in(out[OTHER])
    assert first > 0 and second > 0 and first + second == 10


def test_a_client_inside_a_task_is_not_held_back_by_the_queue_limit() -> None:
    core = make_core(max_number_of_tasks_waiting=2, client_window=20)
    connect(core, CLIENT)
    core.handle(CLIENT, m.SubmitCreditRequest(2, 0), 1.0)
    for n in range(credits_in(core.flush().to_peers[CLIENT])):
        core.handle(CLIENT, task(n), 1.0)  # the parents fill the queue
    connect(core, OTHER)
    core.handle(OTHER, m.SubmitCreditRequest(5, 1), 1.0)  # a nested client: its parents may be waiting for it
    assert credits_in(core.flush().to_peers[OTHER]) == 20


def test_tasks_sent_without_credit_are_refused_only_past_the_limit() -> None:
    core = make_core(max_number_of_tasks_waiting=1)
    connect(core)
    core.handle(CLIENT, task(1), 0.0)
    core.handle(CLIENT, task(2), 0.0)
    results = [r for r in core.flush().to_peers[CLIENT] if isinstance(r, m.TaskResult)]
    assert [r.task_id for r in results] == [task(2).task_id]
    assert results[0].status is m.ResultStatus.SCHEDULER_ERROR
    assert results[0].payload is not None and b"queue is full" in results[0].payload.data


def test_a_departed_clients_tasks_and_credits_are_freed() -> None:
    core = make_core(max_number_of_tasks_waiting=40_000, client_window=30_000)
    connect(core)
    connect(core, OTHER)
    core.handle(CLIENT, m.SubmitCreditRequest(30_000, 0), 1.0)
    core.flush()
    for n in range(20_000):
        core.handle(CLIENT, task(n), 1.0)
    core.handle(OTHER, task(1, OTHER), 1.0)  # another client's task stays
    core.flush()
    assert len(core.tasks) == 20_001
    core.handle(CLIENT, m.ClientDisconnect(False), 2.0)
    core.flush()
    assert list(core.tasks) == [task(1, OTHER).task_id]
    assert core.queue.ids() == [task(1, OTHER).task_id]
    assert len(core.queue._heap) == 1  # no stale entries holding the departed tasks' ids
    assert core.flow.outstanding == 0
    assert core.heap_trim_due  # the shell hands the freed heap back to the OS
    assert core.queue.pop() == task(1, OTHER).task_id


def test_queued_tasks_share_their_clients_values() -> None:
    core = make_core()
    connect(core)
    decoded = [message for n in range(2) for message in m_roundtrip(task(n))]
    for message in decoded:
        core.handle(CLIENT, message, 1.0)
    first, second = (core.tasks[t.task_id].task for t in decoded)  # type: ignore[attr-defined]
    assert first.client_id is second.client_id is core.clients[CLIENT].client_id
    assert first.function_id is second.function_id and first.function_name is second.function_name
    assert first.kwargs is second.kwargs and first.capabilities is second.capabilities


def m_roundtrip(message: m.Task) -> list[m.Message]:
    from scaler.protocol import codec

    return codec.decode(codec.encode_one(message))


def test_task_queue_drops_stale_entries_once_they_outnumber_live_ones() -> None:
    queue = TaskQueue()
    for n in range(5000):
        queue.push(n.to_bytes(4, "big"), 0, n)
    for n in range(4000):
        queue.discard(n.to_bytes(4, "big"))
    assert len(queue) == 1000 and len(queue._heap) < 3000
    assert [queue.pop() for _ in range(3)] == [n.to_bytes(4, "big") for n in range(4000, 4003)]


def test_a_zero_queue_limit_admits_only_what_the_workers_can_take() -> None:
    core = make_core(max_number_of_tasks_waiting=0)
    connect(core)
    core.handle(CLIENT, m.SubmitCreditRequest(10, 0), 1.0)
    assert credits_in(core.flush().to_peers.get(CLIENT, [])) == 0  # no worker: nowhere to go without waiting
    core.handle(W1, worker_heartbeat(queue_size=3), 1.0)
    assert credits_in(core.flush().to_peers[CLIENT]) == 3
