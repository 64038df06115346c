"""The scheduler core driven directly with messages and a fake clock: no sockets, no processes."""

from __future__ import annotations

from scaler.ids import owner_prefix
from scaler.protocol import messages as m
from scaler.scheduler.allocation import NO_CAPABLE_WORKER_GRACE_SECONDS
from scaler.scheduler.core import MAX_WORKER_DEATHS, SchedulerCore, SchedulerSettings

CLIENT = b"Client|test"
W1, W2 = b"Worker|one", b"Worker|two"


def make_core(**overrides: object) -> SchedulerCore:
    settings = SchedulerSettings(object_storage_address="tcp://127.0.0.1:2", **overrides)  # type: ignore[arg-type]
    return SchedulerCore(settings, policy=None)


def worker_heartbeat(queue_size: int = 10, capabilities: dict[str, int] | None = None) -> m.WorkerHeartbeat:
    return m.WorkerHeartbeat(m.PROTOCOL_VERSION, capabilities or {}, queue_size, 0, "mgr", "host", 0.0, 0, 0, (), 0)


def task(n: int, capabilities: dict[str, int] | None = None, priority: int = 0) -> m.Task:
    return m.Task(n.to_bytes(4, "big"), CLIENT, b"f", b"", (), {}, capabilities or {}, priority, 0, "f")


def connect(core: SchedulerCore, now: float = 0.0, workers: tuple[bytes, ...] = (W1, W2), **kw: object) -> None:
    core.handle(CLIENT, m.ClientHeartbeat(m.PROTOCOL_VERSION, CLIENT, 0.0, 0), now)
    for worker in workers:
        core.handle(worker, worker_heartbeat(**kw), now)  # type: ignore[arg-type]
    core.flush()


def sent(outbox: dict[bytes, list[object]], peer: bytes, kind: type) -> list[object]:
    return [message for message in outbox.get(peer, []) if isinstance(message, kind)]


def test_tasks_are_spread_evenly() -> None:
    core = make_core()
    connect(core)
    for n in range(10):
        core.handle(CLIENT, task(n), 1.0)
    out = core.flush().to_peers
    assert len(sent(out, W1, m.Task)) == 5 and len(sent(out, W2, m.Task)) == 5


def test_result_goes_back_to_client_and_frees_the_slot() -> None:
    core = make_core()
    connect(core, workers=(W1,), queue_size=1)
    core.handle(CLIENT, task(1), 1.0)
    core.handle(CLIENT, task(2), 1.0)
    out = core.flush().to_peers
    assert [t.task_id for t in sent(out, W1, m.Task)] == [task(1).task_id]  # type: ignore[attr-defined]
    result = m.TaskResult(task(1).task_id, m.ResultStatus.SUCCESS, m.TaskArg(m.ArgKind.INLINE, b"x"), None)
    core.handle(W1, result, 2.0)
    out = core.flush().to_peers
    assert sent(out, CLIENT, m.TaskResult) == [result]
    assert [t.task_id for t in sent(out, W1, m.Task)] == [task(2).task_id]  # type: ignore[attr-defined]


def test_zombie_result_is_ignored() -> None:
    core = make_core()
    connect(core, workers=(W1,))
    core.handle(CLIENT, task(1), 1.0)
    core.flush()
    result = m.TaskResult(task(1).task_id, m.ResultStatus.SUCCESS, None, None)
    core.handle(W2, result, 2.0)  # W2 never held the task
    assert sent(core.flush().to_peers, CLIENT, m.TaskResult) == []


def test_dead_worker_tasks_are_requeued_elsewhere() -> None:
    core = make_core(worker_timeout_seconds=5.0)
    connect(core, workers=(W1,))
    core.handle(CLIENT, task(1), 1.0)
    core.flush()
    core.handle(W2, worker_heartbeat(), 4.0)
    core.handle(CLIENT, m.ClientHeartbeat(m.PROTOCOL_VERSION, CLIENT, 0.0, 0), 4.0)
    core.tick(6.0)  # W1 silent since t=0
    out = core.flush().to_peers
    assert W1 not in core.workers
    assert [t.task_id for t in sent(out, W2, m.Task)] == [task(1).task_id]  # type: ignore[attr-defined]


def test_task_fails_after_too_many_worker_deaths() -> None:
    core = make_core()
    connect(core, workers=())
    core.handle(CLIENT, task(1), 0.0)
    for attempt in range(MAX_WORKER_DEATHS + 1):
        worker = f"Worker|{attempt}".encode()
        core.handle(worker, worker_heartbeat(), 0.0)
        core.flush()
        core.handle(worker, m.TaskStarted(task(1).task_id), 0.0)
        core.handle(worker, m.WorkerDied(worker, -9), 0.0)
        if attempt < MAX_WORKER_DEATHS:
            assert task(1).task_id in core.queue  # re-run, up to the cap
    results = sent(core.flush().to_peers, CLIENT, m.TaskResult)
    assert [r.status for r in results] == [m.ResultStatus.WORKER_DIED]  # type: ignore[attr-defined]


def test_a_worker_death_is_not_charged_to_tasks_only_queued_there() -> None:
    # Every task on a dead worker used to count a death: under churn, queued tasks failed with WorkerDiedError.
    core = make_core()
    connect(core, workers=())
    core.handle(CLIENT, task(1), 0.0)
    core.handle(CLIENT, task(2), 0.0)
    results = []
    for attempt in range(MAX_WORKER_DEATHS + 3):
        worker = f"Worker|{attempt}".encode()
        core.handle(worker, worker_heartbeat(queue_size=2), 0.0)
        results += sent(core.flush().to_peers, CLIENT, m.TaskResult)
        core.handle(worker, m.TaskStarted(task(1).task_id), 0.0)  # task 1 runs; task 2 waits behind it
        core.handle(worker, m.WorkerDied(worker, -9), 0.0)
    results += sent(core.flush().to_peers, CLIENT, m.TaskResult)
    assert [(r.task_id, r.status) for r in results] == [(task(1).task_id, m.ResultStatus.WORKER_DIED)]  # type: ignore[attr-defined]
    assert core.tasks[task(2).task_id].state.value == "queued" and core.tasks[task(2).task_id].deaths == 0


def processor_died(task_id: bytes, pid: int = 7) -> m.TaskResult:
    text = f"processor (pid {pid}) was killed by signal SIGKILL while running the task"
    return m.TaskResult(task_id, m.ResultStatus.PROCESSOR_DIED, m.TaskArg(m.ArgKind.INLINE, text.encode()), None)


def test_a_task_whose_processor_was_killed_runs_again_on_another_worker() -> None:
    core = make_core()
    connect(core)
    core.handle(CLIENT, task(1), 0.0)
    first = next(w for w in (W1, W2) if sent(core.flush().to_peers, w, m.Task))
    other = W2 if first == W1 else W1
    core.handle(first, m.TaskStarted(task(1).task_id), 1.0)
    core.handle(first, processor_died(task(1).task_id), 2.0)
    out = core.flush().to_peers
    assert not sent(out, CLIENT, m.TaskResult)  # the client is not told: the task is not over
    assert sent(out, other, m.Task) == [task(1)] and not sent(out, first, m.Task)
    ok = m.TaskResult(task(1).task_id, m.ResultStatus.SUCCESS, m.TaskArg(m.ArgKind.INLINE, b"x"), None)
    core.handle(other, ok, 3.0)
    assert sent(core.flush().to_peers, CLIENT, m.TaskResult) == [ok]


def test_a_task_that_kills_every_processor_fails_after_the_cap_with_both_kinds_of_death_counted() -> None:
    core = make_core()
    connect(core, workers=(W1, W2, b"Worker|three"))
    core.handle(CLIENT, task(1), 0.0)
    holders = []
    for attempt in range(MAX_WORKER_DEATHS + 1):
        out = core.flush().to_peers
        holder = next(worker for worker in core.workers if sent(out, worker, m.Task) == [task(1)])
        assert holder not in holders[-1:]  # never straight back to where it just died
        holders.append(holder)
        core.handle(holder, m.TaskStarted(task(1).task_id), 0.0)
        if attempt == 0:  # one worker death, then processor deaths: one cap for both
            core.handle(holder, m.WorkerDied(holder, -9), 0.0)
        else:
            core.handle(holder, processor_died(task(1).task_id, pid=attempt), 0.0)
    results = sent(core.flush().to_peers, CLIENT, m.TaskResult)
    assert [r.status for r in results] == [m.ResultStatus.PROCESSOR_DIED]  # type: ignore[attr-defined]
    text = results[0].payload.data.decode()  # type: ignore[attr-defined]
    assert f"pid {MAX_WORKER_DEATHS}) was killed by signal SIGKILL" in text
    assert f"ran {MAX_WORKER_DEATHS + 1} times" in text
    assert not core.tasks


def test_a_started_message_from_a_worker_that_does_not_hold_the_task_changes_nothing() -> None:
    core = make_core()
    connect(core, workers=(W1,))
    core.handle(CLIENT, task(1), 0.0)
    core.flush()
    core.handle(W2, m.TaskStarted(task(1).task_id), 0.0)  # W2 is not even connected
    core.handle(W1, m.WorkerDied(W1, -9), 0.0)
    assert core.tasks[task(1).task_id].deaths == 0


def test_graceful_worker_exits_do_not_count_as_deaths() -> None:
    core = make_core()
    connect(core, workers=())
    core.handle(CLIENT, task(1), 0.0)
    for attempt in range(MAX_WORKER_DEATHS + 3):
        worker = f"Worker|{attempt}".encode()
        core.handle(worker, worker_heartbeat(), 0.0)
        core.flush()
        core.handle(worker, m.WorkerDisconnect("scaled down"), 0.0)
    assert not sent(core.flush().to_peers, CLIENT, m.TaskResult)
    assert core.tasks[task(1).task_id].state.value == "queued"


def test_client_disconnect_cancels_its_tasks_and_frees_objects() -> None:
    core = make_core()
    connect(core, workers=(W1,), queue_size=1)
    core.handle(CLIENT, task(1), 1.0)
    core.handle(CLIENT, task(2), 1.0)
    core.flush()
    core.handle(CLIENT, m.ClientDisconnect(False), 2.0)
    outbox = core.flush()
    assert sent(outbox.to_peers, W1, m.TaskCancel) == [m.TaskCancel(task(1).task_id, True)]
    assert any(isinstance(message, m.ObjectDeleteOwner) for message in outbox.to_storage)
    assert not core.tasks and not core.queue


def test_objects_of_a_timed_out_client_are_kept_for_the_retention_time() -> None:
    core = make_core(client_timeout_seconds=5.0, object_retention_seconds=30.0, worker_timeout_seconds=1000.0)
    connect(core, workers=(W1,))
    core.tick(6.0)  # silent for more than 5 s: dropped, but it may only have been cut off
    outbox = core.flush()
    assert CLIENT not in core.clients
    assert sent(outbox.to_peers, W1, m.ObjectsReleased) == [m.ObjectsReleased(CLIENT)]  # processors' copies go
    assert not any(isinstance(message, m.ObjectDeleteOwner) for message in outbox.to_storage)
    core.tick(35.0)
    assert not core.flush().to_storage
    core.tick(36.5)
    assert [type(message) for message in core.flush().to_storage] == [m.ObjectDeleteOwner]


def test_a_dropped_client_that_comes_back_is_told_instead_of_readmitted() -> None:
    core = make_core(client_timeout_seconds=5.0, worker_timeout_seconds=1000.0)
    connect(core, workers=(W1,))
    core.handle(CLIENT, task(1), 1.0)
    core.flush()
    core.tick(7.0)  # silent for more than 5 s: dropped, its task cancelled
    core.flush()
    core.handle(CLIENT, m.ClientHeartbeat(m.PROTOCOL_VERSION, CLIENT, 0.0, 0), 8.0)  # it was only asleep
    dropped = sent(core.flush().to_peers, CLIENT, m.ClientDropped)
    assert len(dropped) == 1 and "timed out after 5s" in dropped[0].reason  # type: ignore[attr-defined]
    assert CLIENT not in core.clients


def test_cancel_queued_task_is_confirmed_at_once() -> None:
    core = make_core()
    connect(core, workers=())
    core.handle(CLIENT, task(1), 1.0)
    core.handle(CLIENT, m.TaskCancel(task(1).task_id, True), 1.0)
    confirms = sent(core.flush().to_peers, CLIENT, m.TaskCancelConfirm)
    assert confirms == [m.TaskCancelConfirm(task(1).task_id, m.CancelOutcome.CANCELED)]


def test_cancel_assigned_task_waits_for_worker_confirm() -> None:
    core = make_core()
    connect(core, workers=(W1,))
    core.handle(CLIENT, task(1), 1.0)
    core.flush()
    core.handle(CLIENT, m.TaskCancel(task(1).task_id, True), 2.0)
    assert sent(core.flush().to_peers, W1, m.TaskCancel) == [m.TaskCancel(task(1).task_id, True)]
    core.handle(W1, m.TaskCancelConfirm(task(1).task_id, m.CancelOutcome.CANCELED), 3.0)
    assert sent(core.flush().to_peers, CLIENT, m.TaskCancelConfirm)


def test_protocol_mismatch_is_refused() -> None:
    core = make_core()
    core.handle(CLIENT, m.ClientHeartbeat(m.PROTOCOL_VERSION + 1, CLIENT, 0.0, 0), 0.0)
    out = core.flush().to_peers
    assert sent(out, CLIENT, m.ProtocolMismatch) and CLIENT not in core.clients


def test_protected_scheduler_refuses_shutdown() -> None:
    core = make_core(protected=True)
    connect(core)
    core.handle(CLIENT, m.ClientDisconnect(True), 1.0)
    assert sent(core.flush().to_peers, CLIENT, m.ShutdownResponse) == [
        m.ShutdownResponse(False, "scheduler is protected: shutdown refused")
    ]
    assert not core.stop_requested and CLIENT in core.clients


def test_unprotected_scheduler_shuts_down_workers() -> None:
    core = make_core(protected=False)
    connect(core)
    core.handle(CLIENT, m.ClientDisconnect(True), 1.0)
    out = core.flush().to_peers
    assert core.stop_requested and sent(out, W1, m.WorkerShutdown) and sent(out, W2, m.WorkerShutdown)


def test_connected_peers_and_the_shutdown_notice_include_worker_managers() -> None:
    manager = b"Manager|one"
    core = make_core(protected=False)
    connect(core, workers=(W1,))
    core.handle(manager, m.WorkerManagerHeartbeat(m.PROTOCOL_VERSION, "mgr-1", 4, {}, 0), 0.0)
    core.flush()
    assert core.connected_peers() == [CLIENT, W1, manager]
    core.handle(CLIENT, m.ClientDisconnect(True), 1.0)
    out = core.flush().to_peers
    assert sent(out, W1, m.WorkerShutdown) and sent(out, manager, m.WorkerShutdown)
    assert core.connected_peers() == [W1, manager]  # the client that asked has left


def test_capability_tasks_go_only_to_capable_workers() -> None:
    core = make_core()
    connect(core, workers=(W1,))
    core.handle(W2, worker_heartbeat(capabilities={"gpu": -1}), 0.0)
    for n in range(4):
        core.handle(CLIENT, task(n, {"gpu": 1}), 1.0)
    out = core.flush().to_peers
    assert len(sent(out, W2, m.Task)) == 4 and not sent(out, W1, m.Task)


def test_task_no_worker_can_serve_fails_after_grace() -> None:
    core = make_core(client_timeout_seconds=1e9, worker_timeout_seconds=1e9)
    connect(core, workers=(W1,))
    core.handle(CLIENT, task(1, {"gpu": 1}), 0.0)
    core.tick(1.0)
    assert not sent(core.flush().to_peers, CLIENT, m.TaskResult)
    core.tick(NO_CAPABLE_WORKER_GRACE_SECONDS + 1)
    results = sent(core.flush().to_peers, CLIENT, m.TaskResult)
    assert [r.status for r in results] == [m.ResultStatus.NO_CAPABLE_WORKER]  # type: ignore[attr-defined]


def test_higher_priority_is_placed_first() -> None:
    core = make_core()
    connect(core, workers=())
    core.handle(CLIENT, task(1, priority=0), 0.0)
    core.handle(CLIENT, task(2, priority=1), 0.0)
    core.handle(W1, worker_heartbeat(queue_size=1), 0.0)
    out = core.flush().to_peers
    assert [t.task_id for t in sent(out, W1, m.Task)] == [task(2).task_id]  # type: ignore[attr-defined]


def test_queue_limit_rejects_tasks() -> None:
    core = make_core(max_number_of_tasks_waiting=1)
    connect(core, workers=())
    core.handle(CLIENT, task(1), 0.0)
    core.handle(CLIENT, task(2), 0.0)
    results = sent(core.flush().to_peers, CLIENT, m.TaskResult)
    assert [r.status for r in results] == [m.ResultStatus.SCHEDULER_ERROR]  # type: ignore[attr-defined]


def test_client_timeout_drops_client() -> None:
    core = make_core(client_timeout_seconds=5.0, worker_timeout_seconds=1e9)
    connect(core)
    core.tick(10.0)
    assert CLIENT not in core.clients


def test_load_balancing_moves_queued_tasks_to_an_idle_worker_after_repeated_advice() -> None:
    core = make_core(load_balance_seconds=1.0, load_balance_trigger_times=2, client_timeout_seconds=1e9,
                     worker_timeout_seconds=1e9)  # fmt: skip
    connect(core, workers=(W1, W2))
    core.tick(0.1)  # the round the workers' arrival asked for: nothing to move yet
    for n in range(10):
        core.handle(CLIENT, task(n), 0.0)
    # W2's share is cancelled by its client: W2 is idle, but did not run dry (a worker that finished its tasks
    # gets the next tick's advice at once: see the runs_dry test below), so the streak rule applies.
    for placed in sent(core.flush().to_peers, W2, m.Task):
        core.handle(CLIENT, m.TaskCancel(placed.task_id, True), 0.4)  # type: ignore[attr-defined]
        gone = m.TaskCancelConfirm(placed.task_id, m.CancelOutcome.CANCELED)  # type: ignore[attr-defined]
        core.handle(W2, gone, 0.5)
    core.flush()
    assert not core.workers[W2].tasks
    core.tick(1.0)
    assert not sent(core.flush().to_peers, W1, m.TaskCancel)  # advice seen once: not yet
    core.tick(2.0)
    cancels = sent(core.flush().to_peers, W1, m.TaskCancel)
    assert cancels and all(not c.force for c in cancels)  # type: ignore[attr-defined]
    for cancel in cancels:
        core.handle(W1, m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.CANCELED), 2.1)  # type: ignore[attr-defined]
    moved = sent(core.flush().to_peers, W2, m.Task)
    assert {t.task_id for t in moved} == {c.task_id for c in cancels}  # type: ignore[attr-defined]
    core.tick(3.0)  # W2 is busy with what it took: nothing to move
    assert not sent(core.flush().to_peers, W1, m.TaskCancel)


def test_an_idle_worker_keeps_taking_tasks_queued_behind_a_long_running_one() -> None:
    # Balancing used to act once per streak of identical advice: when the idle worker finished what it was given
    # within a round, the advice never changed, and the rest waited behind the long task.
    core = make_core(load_balance_seconds=1.0, load_balance_trigger_times=2, client_timeout_seconds=1e9,
                     worker_timeout_seconds=1e9)  # fmt: skip
    connect(core, workers=(W1,))
    core.handle(CLIENT, task(0), 0.0)  # the long one
    for n in range(1, 9):
        core.handle(CLIENT, task(n), 0.0)
    core.flush()
    core.handle(W1, m.TaskStarted(task(0).task_id), 0.0)
    core.handle(W2, worker_heartbeat(), 0.0)
    core.tick(0.0)  # the arrival's round
    moved_total = 0
    for now in range(1, 20):  # each round answers what the last flush sent
        out = core.flush().to_peers
        for cancel in sent(out, W1, m.TaskCancel):
            assert cancel.task_id != task(0).task_id  # type: ignore[attr-defined]
            core.handle(W1, m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.CANCELED), now)  # type: ignore[attr-defined]
        for placed in sent(out, W2, m.Task):  # W2 is quick
            moved_total += 1
            ok = m.TaskResult(placed.task_id, m.ResultStatus.SUCCESS, None, None)  # type: ignore[attr-defined]
            core.handle(W2, ok, now)
        core.tick(float(now))
    assert moved_total == 8
    assert list(core.workers[W1].tasks) == [task(0).task_id]  # only the long one is left where it was


def test_a_worker_that_joins_a_busy_cluster_gets_its_share_at_once() -> None:
    core = make_core(load_balance_seconds=1.0, load_balance_trigger_times=2, client_timeout_seconds=1e9,
                     worker_timeout_seconds=1e9)  # fmt: skip
    connect(core, workers=(W1,))
    for n in range(10):
        core.handle(CLIENT, task(n), 0.0)
    core.flush()
    core.handle(W2, worker_heartbeat(), 0.5)  # joins late and idle: W1 holds all ten
    cancels = sent(core.flush().to_peers, W1, m.TaskCancel)  # at once, not after two balancing intervals
    assert len(cancels) == 5 and all(not c.force for c in cancels)  # type: ignore[attr-defined]
    core.tick(0.7)
    assert not sent(core.flush().to_peers, W1, m.TaskCancel)  # once per arrival


def test_graph_nodes_wait_for_dependencies_and_failures_cascade() -> None:
    core = make_core()
    connect(core, workers=(W1,))
    a, b, c = task(1), task(2), task(3)
    graph = m.GraphTask(b"g", (m.GraphNode(a, ()), m.GraphNode(b, (a.task_id,)), m.GraphNode(c, (b.task_id,))),
                        (c.task_id,))  # fmt: skip
    core.handle(CLIENT, graph, 0.0)
    assert [t.task_id for t in sent(core.flush().to_peers, W1, m.Task)] == [a.task_id]  # type: ignore[attr-defined]
    ok = m.TaskResult(a.task_id, m.ResultStatus.SUCCESS, m.TaskArg(m.ArgKind.OBJECT, b"r"), None)
    core.handle(W1, ok, 1.0)
    out = core.flush().to_peers
    assert not sent(out, CLIENT, m.TaskResult)  # intermediate node: not reported
    assert [t.task_id for t in sent(out, W1, m.Task)] == [b.task_id]  # type: ignore[attr-defined]
    failed = m.TaskResult(b.task_id, m.ResultStatus.FAILED, m.TaskArg(m.ArgKind.INLINE, b"exc"), None)
    core.handle(W1, failed, 2.0)
    results = sent(core.flush().to_peers, CLIENT, m.TaskResult)
    assert [(r.task_id, r.status) for r in results] == [(c.task_id, m.ResultStatus.FAILED)]  # type: ignore[attr-defined]
    assert not core.tasks


def test_graph_with_a_cycle_is_refused() -> None:
    core = make_core()
    connect(core, workers=(W1,))
    a, b = task(1), task(2)
    core.handle(
        CLIENT, m.GraphTask(b"g", (m.GraphNode(a, (b.task_id,)), m.GraphNode(b, (a.task_id,))), (a.task_id,)), 0
    )
    results = sent(core.flush().to_peers, CLIENT, m.TaskResult)
    assert [r.status for r in results] == [m.ResultStatus.SCHEDULER_ERROR]  # type: ignore[attr-defined]
    assert not core.tasks


def chain(length: int) -> m.GraphTask:
    """A graph where node n depends on node n - 1; only the last node is reported."""
    nodes = [m.GraphNode(task(0), ())]
    nodes += [m.GraphNode(task(n), (task(n - 1).task_id,)) for n in range(1, length)]
    return m.GraphTask(b"chain", tuple(nodes), (task(length - 1).task_id,))


def test_a_long_chain_whose_root_fails_ends_every_node_with_the_root_failure() -> None:
    # Each node's failure used to recurse into its dependents' (core._finish -> release_dependents -> ...):
    # RecursionError after ~1,500 nodes, and the rest of the chain waited forever.
    core = make_core()
    connect(core, workers=(W1,))
    core.handle(CLIENT, chain(100_000), 0.0)
    assert [t.task_id for t in sent(core.flush().to_peers, W1, m.Task)] == [task(0).task_id]  # type: ignore[attr-defined]
    boom = m.TaskResult(task(0).task_id, m.ResultStatus.FAILED, m.TaskArg(m.ArgKind.INLINE, b"boom"), None)
    core.handle(W1, boom, 1.0)
    results = sent(core.flush().to_peers, CLIENT, m.TaskResult)
    assert results == [m.TaskResult(task(99_999).task_id, m.ResultStatus.FAILED, boom.payload, None)]
    assert not core.tasks and not core.queue and not core.clients[CLIENT].tasks


def test_a_long_chain_that_succeeds_runs_node_after_node() -> None:
    core = make_core(client_timeout_seconds=1e9, worker_timeout_seconds=1e9)
    connect(core, workers=(W1,))
    core.handle(CLIENT, chain(100_000), 0.0)
    ran = 0
    placed = sent(core.flush().to_peers, W1, m.Task)
    while placed:
        assert len(placed) == 1  # a chain never has two nodes ready at once
        ran += 1
        ok = m.TaskResult(placed[0].task_id, m.ResultStatus.SUCCESS, m.TaskArg(m.ArgKind.OBJECT, b"r"), None)  # type: ignore[attr-defined]
        core.handle(W1, ok, 1.0)
        out = core.flush().to_peers
        placed = sent(out, W1, m.Task)
    assert ran == 100_000
    assert [r.task_id for r in sent(out, CLIENT, m.TaskResult)] == [task(99_999).task_id]  # type: ignore[attr-defined]
    assert not core.tasks


def test_cancelling_the_root_of_a_long_chain_cancels_every_node() -> None:
    core = make_core()
    connect(core, workers=())  # nothing runs: the root stays queued
    core.handle(CLIENT, chain(100_000), 0.0)
    core.handle(CLIENT, m.TaskCancel(task(0).task_id, True), 1.0)
    results = sent(core.flush().to_peers, CLIENT, m.TaskResult)
    assert [(r.task_id, r.status) for r in results] == [(task(99_999).task_id, m.ResultStatus.CANCELED)]  # type: ignore[attr-defined]
    assert not core.tasks and not core.queue


def test_a_shutdown_request_drops_the_requesting_client_and_cancels_its_tasks() -> None:
    # The loop that told workers to shut down used to rebind ``peer``, so the last worker was "dropped" instead.
    core = make_core(protected=False)
    connect(core)
    core.handle(CLIENT, task(1), 0.5)
    core.flush()
    core.handle(CLIENT, m.ClientDisconnect(True), 1.0)
    outbox = core.flush()
    assert CLIENT not in core.clients and not core.tasks
    assert m.ObjectDeleteOwner(owner_prefix(CLIENT), 0) in outbox.to_storage
    cancels = sent(outbox.to_peers, W1, m.TaskCancel) + sent(outbox.to_peers, W2, m.TaskCancel)
    assert cancels == [m.TaskCancel(task(1).task_id, True)]


def test_a_task_the_worker_refuses_to_give_back_counts_as_started() -> None:
    # Workers that never say TaskStarted (a job proxy) still tell the balancer, by refusing, which task runs.
    core = make_core(load_balance_seconds=1.0, load_balance_trigger_times=1, client_timeout_seconds=1e9,
                     worker_timeout_seconds=1e9)  # fmt: skip
    connect(core, workers=(W1,))
    core.handle(CLIENT, task(1), 0.0)
    core.handle(CLIENT, task(2), 0.0)
    core.flush()
    core.handle(W2, worker_heartbeat(), 0.5)
    core.tick(0.6)
    cancels = sent(core.flush().to_peers, W1, m.TaskCancel)
    assert [c.task_id for c in cancels] == [task(2).task_id]  # type: ignore[attr-defined]
    core.handle(W1, m.TaskCancelConfirm(task(2).task_id, m.CancelOutcome.NOT_CANCELED), 0.7)
    assert core.tasks[task(2).task_id].started and core.tasks[task(2).task_id].state.value == "assigned"


def test_a_worker_that_runs_dry_takes_tasks_still_queued_elsewhere_at_once() -> None:
    # The tail of a burst: both queues were filled up front; one worker finished its share first. Waiting for two
    # balancing rounds in a row (2 s here) left it idle to the end (bench: efficiency of 200 x 20 ms tasks).
    core = make_core(load_balance_seconds=1.0, load_balance_trigger_times=2, client_timeout_seconds=1e9,
                     worker_timeout_seconds=1e9)  # fmt: skip
    connect(core)
    for n in range(6):
        core.handle(CLIENT, task(n), 0.0)
    out = core.flush().to_peers
    mine = {w: [t.task_id for t in sent(out, w, m.Task)] for w in (W1, W2)}  # type: ignore[attr-defined]
    assert len(mine[W1]) == len(mine[W2]) == 3
    core.handle(W1, m.TaskStarted(mine[W1][0]), 0.0)
    core.tick(0.05)
    assert not sent(core.flush().to_peers, W1, m.TaskCancel)  # nobody idle yet: nothing moves
    for task_id in mine[W2]:
        core.handle(W2, m.TaskResult(task_id, m.ResultStatus.SUCCESS, None, None), 0.2)
    cancels = sent(core.flush().to_peers, W1, m.TaskCancel)  # in this flush: not at the next tick, nor two rounds later
    assert cancels and all(c.task_id in mine[W1][1:] and not c.force for c in cancels)  # type: ignore[attr-defined]
    for cancel in cancels:
        core.handle(W1, m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.CANCELED), 0.31)  # type: ignore[attr-defined]
    moved = [t.task_id for t in sent(core.flush().to_peers, W2, m.Task)]  # type: ignore[attr-defined]
    assert moved == [c.task_id for c in cancels]  # type: ignore[attr-defined]
