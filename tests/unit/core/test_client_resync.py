"""What the client keeps to resynchronise a restarted scheduler: sent batches and live uploads."""

from __future__ import annotations

from scaler.client.resync import HeldUploads, SentTasks
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
    resent = [message for payload in sent.resend_batches(pending) for message in codec.decode(payload)]
    assert resent == [task(2), task(4)]
    sent.sweep({task(2).task_id})
    assert len(sent) == 1 and sent.covered() == {t.task_id for t in first}
    sent.sweep(set())
    assert len(sent) == 0


def test_resent_tasks_are_batched() -> None:
    sent = SentTasks()
    tasks = [task(i) for i in range(5)]
    sent.add(codec.encode(tasks), [t.task_id for t in tasks])
    batches = sent.resend_batches({t.task_id for t in tasks}, limit=2)
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
