"""What the client keeps to resynchronise a restarted scheduler: sent batches and live uploads."""

from __future__ import annotations

from scaler import errors
from scaler.client.resync import (
    HELD_UPLOAD_LIMIT,
    HeldUploads,
    SentTasks,
    encode_batches,
    objects_used,
    plan_resend,
)
from scaler.protocol import codec
from scaler.protocol import messages as m


def task(number: int) -> m.Task:
    return m.Task(bytes([number]) * 16, b"client", b"fn", b"", (), {}, {}, 0, 0, "f")


def test_only_pending_tasks_are_resent_and_finished_batches_are_forgotten() -> None:
    sent = SentTasks()
    first, second = [task(1), task(2), task(3)], [task(4)]
    sent.add(codec.encode(first), [t.task_id for t in first])
    sent.add(codec.encode(second), [t.task_id for t in second])
    pending = {task(2).task_id, task(4).task_id}
    assert sent.pending_tasks(pending) == [task(2), task(4)]
    sent.sweep({task(2).task_id})
    assert len(sent) == 1 and sent.covered() == {t.task_id for t in first}
    sent.sweep(set())
    assert len(sent) == 0


def test_resent_tasks_are_batched() -> None:
    sent = SentTasks()
    tasks = [task(i) for i in range(5)]
    sent.add(codec.encode(tasks), [t.task_id for t in tasks])
    batches = encode_batches(sent.pending_tasks({t.task_id for t in tasks}), limit=2)
    assert [len(codec.decode(batch)) for batch in batches] == [2, 2, 1]


def test_uploads_are_held_until_deleted() -> None:
    held = HeldUploads()
    held.note([codec.encode_one(m.ObjectPut(b"a", 0)), b"enc", b"payload-a"])
    held.note([codec.encode_one(m.ObjectPut(b"b", 0)), b"enc", b"payload-b"])
    held.note([codec.encode_one(m.ObjectDelete((b"a",), 0))])
    assert held.uploads() == [[codec.encode_one(m.ObjectPut(b"b", 0)), b"enc", b"payload-b"]]
    held.note([codec.encode_one(m.ObjectDeleteOwner(b"owner", 1))])
    assert held.uploads() == []
    held.note([b"not a message"])  # ignored, never raises
    assert len(held) == 0


def test_a_held_upload_is_a_copy_and_large_ones_are_not_held() -> None:
    held = HeldUploads()
    payload = bytearray(b"x" * 1000)
    held.note([codec.encode_one(m.ObjectPut(b"small", 0)), b"enc", memoryview(payload)])
    held.note([codec.encode_one(m.ObjectPut(b"large", 0)), b"enc", bytes(HELD_UPLOAD_LIMIT + 1)])
    payload[0:1] = b"y"  # the user's object changes (or goes away): the held copy does not
    assert held.uploads() == [[codec.encode_one(m.ObjectPut(b"small", 0)), b"enc", b"x" * 1000]]
    assert b"small" in held and b"large" not in held


def test_objects_used_names_function_serializer_and_object_arguments() -> None:
    object_arg = m.TaskArg(m.ArgKind.OBJECT, b"arg-object")
    inline_arg = m.TaskArg(m.ArgKind.INLINE, b"inline")
    used = m.Task(b"t" * 16, b"c", b"fn", b"ser", (object_arg, inline_arg), {"k": object_arg}, {}, 0, 0, "f")
    assert objects_used(used) == [b"fn", b"ser", b"arg-object", b"arg-object"]


def test_a_graph_is_resent_whole_while_a_target_is_pending_and_needs_no_upload_of_its_own_results() -> None:
    x = m.Task(b"x" * 16, b"c", b"fn", b"", (), {}, {}, 0, 0, "f", result_object_id=b"x-result")
    y_arg = m.TaskArg(m.ArgKind.OBJECT, b"x-result")
    y = m.Task(b"y" * 16, b"c", b"fn", b"", (y_arg,), {}, {}, 0, 0, "f", result_object_id=b"y-result")
    graph = m.GraphTask(b"g" * 16, (m.GraphNode(x, ()), m.GraphNode(y, (x.task_id,))), (y.task_id,))
    sent = SentTasks()
    sent.add(codec.encode_one(graph), [y.task_id])
    assert sent.pending_tasks({y.task_id}) == [graph]
    assert sent.pending_tasks({x.task_id}) == []
    assert objects_used(graph) == [b"fn", b"fn"]


def test_a_restart_resends_what_it_can_and_fails_the_rest_with_the_cause() -> None:
    held, sent = HeldUploads(), SentTasks()
    held.note([codec.encode_one(m.ObjectPut(b"kept", 0)), b"enc", b"payload"])
    plain = task(1)
    reads_kept = m.Task(
        bytes([2]) * 16, b"client", b"fn", b"", (m.TaskArg(m.ArgKind.OBJECT, b"kept"),), {}, {}, 0, 0, "f"
    )
    reads_lost = m.Task(
        bytes([3]) * 16, b"client", b"fn", b"", (m.TaskArg(m.ArgKind.OBJECT, b"big"),), {}, {}, 0, 0, "f"
    )
    batch = [plain, reads_kept, reads_lost]
    sent.add(codec.encode(batch), [t.task_id for t in batch])
    held.note([codec.encode_one(m.ObjectPut(b"fn", 0)), b"enc", b"function"])
    unsent = bytes([9]) * 16  # pending, but sent some other way: no batch kept
    plan = plan_resend([plain.task_id, reads_kept.task_id, reads_lost.task_id, unsent], sent, held, "tcp://s:1")
    assert plan.tasks == [plain, reads_kept]
    assert set(plan.lost) == {reads_lost.task_id, unsent}
    assert isinstance(plan.lost[unsent], errors.SchedulerUnavailableError) and "tcp://s:1" in str(plan.lost[unsent])
    lost_object = plan.lost[reads_lost.task_id]
    assert isinstance(lost_object, errors.ObjectStorageError) and b"big".hex() in str(lost_object)
