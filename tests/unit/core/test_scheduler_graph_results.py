"""Graph node results in the scheduler core: small ones kept and handed to dependents inline, large ones left in
object storage with their dependents placed where they were made, and every kept result freed. Fake messages and
a fake clock, no processes."""

from __future__ import annotations

from scaler.protocol import messages as m
from scaler.scheduler.core import SchedulerCore, SchedulerSettings

CLIENT = b"Client|graph"
W1, W2 = b"Worker|one", b"Worker|two"
IDLE_PROCESSOR = m.ProcessorStatus(1, 0.0, 0, False, False)


def make_core(**overrides: object) -> SchedulerCore:
    settings = SchedulerSettings(object_storage_address="tcp://127.0.0.1:2", **overrides)  # type: ignore[arg-type]
    return SchedulerCore(settings, policy=None)


def heartbeat() -> m.WorkerHeartbeat:
    return m.WorkerHeartbeat(m.PROTOCOL_VERSION, {}, 10, 0, "mgr", "host", 0.0, 0, 0, (IDLE_PROCESSOR,), 0)


def connect(core: SchedulerCore, workers: tuple[bytes, ...] = (W1, W2), now: float = 0.0) -> None:
    core.handle(CLIENT, m.ClientHeartbeat(m.PROTOCOL_VERSION, CLIENT, 0.0, 0), now)
    for worker in workers:
        core.handle(worker, heartbeat(), now)
    core.flush()


def result_id(name: str) -> bytes:
    return b"result-of-" + name.encode()


def node(name: str, *inputs: str) -> m.GraphNode:
    """A node whose arguments are: a constant, then the results of ``inputs`` (as the client writes them)."""
    args = (m.TaskArg(m.ArgKind.INLINE, b"constant"), *(m.TaskArg(m.ArgKind.OBJECT, result_id(i)) for i in inputs))
    task = m.Task(name.encode(), CLIENT, b"f", b"", args, {}, {}, 0, 0, "f", result_id(name))
    return m.GraphNode(task, tuple(i.encode() for i in inputs))


def graph(*nodes: m.GraphNode, targets: tuple[str, ...]) -> m.GraphTask:
    return m.GraphTask(b"graph", nodes, tuple(t.encode() for t in targets))


def inline(name: str, data: bytes) -> m.TaskResult:
    return m.TaskResult(name.encode(), m.ResultStatus.SUCCESS, m.TaskArg(m.ArgKind.INLINE, data), None)


def stored(name: str) -> m.TaskResult:
    """A large result: the processor wrote it to object storage under the node's result object id."""
    return m.TaskResult(name.encode(), m.ResultStatus.SUCCESS, m.TaskArg(m.ArgKind.OBJECT, result_id(name)), None)


def placed(out: dict[bytes, list[object]]) -> dict[bytes, tuple[bytes, m.Task]]:
    """task id -> (worker, Task as sent)."""
    return {t.task_id: (peer, t) for peer, messages in out.items() for t in messages if isinstance(t, m.Task)}


def to_client(out: dict[bytes, list[object]]) -> list[m.TaskResult]:
    return [message for message in out.get(CLIENT, []) if isinstance(message, m.TaskResult)]


def kept(core: SchedulerCore) -> set[bytes]:
    return set(core.clients[CLIENT].node_results)


def test_a_small_result_reaches_its_dependent_inline_and_only_the_target_goes_to_the_client() -> None:
    core = make_core()
    connect(core)
    core.handle(CLIENT, graph(node("a"), node("b", "a"), targets=("b",)), 1.0)
    worker_a, _ = placed(core.flush().to_peers)[b"a"]
    core.handle(worker_a, inline("a", b"A-VALUE"), 2.0)
    out = core.flush().to_peers
    assert to_client(out) == []  # an intermediate result is not reported
    _, task_b = placed(out)[b"b"]
    assert task_b.args == (m.TaskArg(m.ArgKind.INLINE, b"constant"), m.TaskArg(m.ArgKind.INLINE, b"A-VALUE"))
    assert kept(core) == set()  # b holds the value itself now
    worker_b = core.tasks[b"b"].worker
    assert worker_b is not None
    core.handle(worker_b, inline("b", b"B-VALUE"), 3.0)
    assert to_client(core.flush().to_peers) == [inline("b", b"B-VALUE")]
    assert core.tasks == {}


def test_a_large_result_stays_in_object_storage_and_its_dependent_goes_to_the_worker_that_made_it() -> None:
    core = make_core()
    connect(core)
    # a1 and a2 land on different workers; b reads a2's large result, c reads a1's. Even load alone would put b (the
    # older) on W1 and c on W2; each should go where its input was made instead.
    core.handle(CLIENT, graph(node("a1"), node("a2"), node("b", "a2"), node("c", "a1"), targets=("b", "c")), 1.0)
    first = placed(core.flush().to_peers)
    maker = {name: first[name][0] for name in (b"a1", b"a2")}
    assert maker[b"a1"] != maker[b"a2"]
    core.handle(maker[b"a2"], stored("a2"), 2.0)
    core.handle(maker[b"a1"], stored("a1"), 2.0)
    second = placed(core.flush().to_peers)
    assert second[b"b"][0] == maker[b"a2"] and second[b"c"][0] == maker[b"a1"]
    assert second[b"b"][1].args[1] == m.TaskArg(m.ArgKind.OBJECT, result_id("a2"))  # read from storage there
    assert kept(core) == set()


def plain(name: str) -> m.Task:
    return m.Task(name.encode(), CLIENT, b"f", b"", (), {}, {}, 0, 0, "f")


def test_a_busy_maker_does_not_hold_back_the_dependent() -> None:
    core = make_core()
    connect(core)
    core.handle(CLIENT, graph(node("a"), node("b", "a"), targets=("b",)), 1.0)
    assert placed(core.flush().to_peers)[b"a"][0] == W1
    core.handle(CLIENT, plain("t1"), 1.1)
    assert placed(core.flush().to_peers)[b"t1"][0] == W2
    core.handle(CLIENT, plain("t2"), 1.2)
    assert placed(core.flush().to_peers)[b"t2"][0] == W1
    core.handle(W2, inline("t1", b""), 1.5)
    core.handle(W1, stored("a"), 2.0)  # W1's processor is now busy with t2; W2 has nothing to do
    assert placed(core.flush().to_peers)[b"b"][0] == W2


def test_a_kept_result_is_dropped_after_its_last_dependent_is_queued() -> None:
    core = make_core()
    connect(core, workers=(W1,))
    core.handle(CLIENT, graph(node("a"), node("d"), node("b", "a"), node("c", "a", "d"), targets=("b", "c")), 1.0)
    core.flush()
    core.handle(W1, inline("a", b"A"), 2.0)
    out = core.flush().to_peers
    assert b"b" in placed(out) and b"c" not in placed(out)
    assert kept(core) == {b"a"}  # c still waits for d and will need a's value
    core.handle(W1, inline("d", b"D"), 3.0)
    task_c = placed(core.flush().to_peers)[b"c"][1]
    assert [arg.data for arg in task_c.args] == [b"constant", b"A", b"D"]
    assert kept(core) == set()


def test_a_failed_dependency_cascades_and_frees_what_was_kept_for_the_failed_nodes() -> None:
    core = make_core()
    connect(core, workers=(W1,))
    core.handle(CLIENT, graph(node("a"), node("b"), node("c", "a", "b"), node("d", "c"), targets=("d",)), 1.0)
    core.flush()
    core.handle(W1, inline("a", b"A"), 2.0)
    core.flush()
    assert kept(core) == {b"a"}
    failure = m.TaskResult(b"b", m.ResultStatus.FAILED, m.TaskArg(m.ArgKind.INLINE, b"boom"), None)
    core.handle(W1, failure, 3.0)
    out = to_client(core.flush().to_peers)
    assert [(r.task_id, r.status, r.payload) for r in out] == [(b"d", m.ResultStatus.FAILED, failure.payload)]
    assert kept(core) == set() and core.tasks == {}


def test_cancelling_a_waiting_node_frees_what_was_kept_for_it() -> None:
    core = make_core()
    connect(core, workers=(W1,))
    core.handle(CLIENT, graph(node("a"), node("b"), node("c", "a", "b"), targets=("c",)), 1.0)
    core.flush()
    core.handle(W1, inline("a", b"A"), 2.0)
    core.flush()
    assert kept(core) == {b"a"}
    core.handle(CLIENT, m.TaskCancel(b"c", force=True), 3.0)
    out = core.flush().to_peers
    assert [message for message in out[CLIENT] if isinstance(message, m.TaskCancelConfirm)] == [
        m.TaskCancelConfirm(b"c", m.CancelOutcome.CANCELED)
    ]
    assert kept(core) == set()


def test_a_dependent_re_run_after_its_worker_died_still_has_its_inputs() -> None:
    core = make_core(worker_timeout_seconds=5.0)
    connect(core, workers=(W1,))
    core.handle(CLIENT, graph(node("a"), node("b", "a"), targets=("b",)), 1.0)
    core.flush()
    core.handle(W1, inline("a", b"A"), 2.0)
    sent_first = placed(core.flush().to_peers)[b"b"][1]
    core.handle(W1, m.TaskStarted(b"b"), 2.5)
    core.handle(W2, heartbeat(), 6.0)
    core.handle(CLIENT, m.ClientHeartbeat(m.PROTOCOL_VERSION, CLIENT, 0.0, 0), 6.0)
    core.tick(8.0)  # W1 silent since t=2.5: dead while running b
    assert W1 not in core.workers
    worker, sent_again = placed(core.flush().to_peers)[b"b"]
    assert worker == W2 and sent_again.args == sent_first.args
    assert sent_again.args[1] == m.TaskArg(m.ArgKind.INLINE, b"A")
    core.handle(W2, inline("b", b"B"), 8.5)
    assert to_client(core.flush().to_peers) == [inline("b", b"B")]
