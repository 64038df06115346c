"""What a client keeps so that it can tell a restarted scheduler everything the old one forgot.

A scheduler that restarts (killed, then started again on the same address) knows none of this client's
tasks, and its object storage (its child) lost every upload. The client still holds the futures, so it can
send the unfinished tasks again and put back the objects they read. To do that without slowing the hot path,
it keeps the *encoded batches* it already sent (one reference per batch, with the ids of the tasks in it,
dropped once all of them are done) and a copy of its live uploads up to ``HELD_UPLOAD_LIMIT`` bytes each
(dropped when the upload is deleted). A copy, not a reference: a reference to the frames would keep the
user's object alive, and with it the upload (uploads are released when their object is garbage).

The cost: a finished batch is dropped at the next sweep; an upload up to the limit is held twice (by the user
and here) while object storage holds it. A task whose larger upload was lost with the restart fails with a
clear error instead of being resent.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Container, Sequence
from dataclasses import dataclass, field
from typing import Any

from scaler import errors
from scaler.protocol import codec
from scaler.protocol import messages as m

HELD_UPLOAD_LIMIT = 16 * 1024 * 1024


class SentTasks:
    """Encoded task batches whose tasks are not all finished (thread-safe: user threads append)."""

    def __init__(self) -> None:
        self._batches: list[tuple[bytes, tuple[bytes, ...]]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._batches)

    def add(self, payload: bytes, task_ids: Sequence[bytes]) -> None:
        with self._lock:
            self._batches.append((payload, tuple(task_ids)))

    def sweep(self, pending: Container[bytes]) -> None:
        """Forget the batches none of whose tasks is pending any more."""
        with self._lock:
            self._batches = [batch for batch in self._batches if any(tid in pending for tid in batch[1])]

    def pending_tasks(self, pending: Container[bytes]) -> list[m.Task | m.GraphTask]:
        """The tasks among ``pending`` that were sent in a kept batch, oldest first; a graph whole, if any of its
        targets is pending (its intermediate results died with the old scheduler's object storage)."""
        with self._lock:
            batches = list(self._batches)
        tasks: list[m.Task | m.GraphTask] = []
        for payload, task_ids in batches:
            if not any(tid in pending for tid in task_ids):
                continue
            for message in codec.decode(payload):
                if isinstance(message, m.Task) and message.task_id in pending:
                    tasks.append(message)
                elif isinstance(message, m.GraphTask) and any(target in pending for target in message.targets):
                    tasks.append(message)
        return tasks

    def covered(self) -> set[bytes]:
        """Every task id that ``resend_batches`` can send again."""
        with self._lock:
            return {tid for _, task_ids in self._batches for tid in task_ids}


class HeldUploads:
    """The frames of this client's uploads that object storage still holds (thread-safe)."""

    def __init__(self) -> None:
        self._objects: dict[bytes, list[Any]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._objects)

    def note(self, frames: Sequence[Any]) -> None:
        """Record what a message to object storage does to this client's uploads (a put, a delete)."""
        try:
            header = codec.decode(bytes(frames[0]) if not isinstance(frames[0], bytes) else frames[0])[0]
        except (codec.DecodeError, IndexError):
            return
        with self._lock:
            if isinstance(header, m.ObjectPut):
                if header.segment:  # large, in shared memory: not kept, like any large upload
                    return
                if sum(memoryview(frame).nbytes for frame in frames[1:]) <= HELD_UPLOAD_LIMIT:
                    self._objects[header.object_id] = [bytes(memoryview(frame)) for frame in frames[1:]]
            elif isinstance(header, m.ObjectDelete):
                for object_id in header.object_ids:
                    self._objects.pop(object_id, None)
            elif isinstance(header, m.ObjectDeleteOwner):
                self._objects.clear()  # a client only ever deletes its own prefix (clear())

    def __contains__(self, object_id: bytes) -> bool:
        return object_id in self._objects

    def uploads(self) -> list[list[Any]]:
        """Every held upload as the frames of an ObjectPut, ready to send again."""
        with self._lock:
            held = list(self._objects.items())
        return [[codec.encode_one(m.ObjectPut(object_id, 0)), *frames] for object_id, frames in held]


def objects_used(message: m.Task | m.GraphTask) -> list[bytes]:
    """The uploads a task (or a graph) reads: functions, serializer, arguments held in object storage (a graph's
    own intermediate results are not uploads: the graph makes them again)."""
    tasks = [node.task for node in message.nodes] if isinstance(message, m.GraphTask) else [message]
    made_here = {task.result_object_id for task in tasks if task.result_object_id}
    ids: list[bytes] = []
    for task in tasks:
        ids.append(task.function_id)
        if task.serializer_id:
            ids.append(task.serializer_id)
        ids.extend(a.data for a in (*task.args, *task.kwargs.values()) if a.kind is m.ArgKind.OBJECT)
    return [object_id for object_id in ids if object_id not in made_here]


def outcome_ids(message: m.Task | m.GraphTask) -> tuple[bytes, ...]:
    """The task ids whose outcome the client waits for: the task's own, or the graph's targets."""
    return message.targets if isinstance(message, m.GraphTask) else (message.task_id,)


def encode_batches(tasks: list[m.Task | m.GraphTask], limit: int = 1000) -> list[bytes]:
    return [codec.encode(tasks[start : start + limit]) for start in range(0, len(tasks), limit)]


@dataclass
class ResendPlan:
    """What a client does for its pending tasks once a new scheduler answers at the old one's address."""

    tasks: list[m.Task | m.GraphTask] = field(default_factory=list)  # to send again, oldest first
    lost: dict[bytes, BaseException] = field(default_factory=dict)  # task id -> the error its future fails with


def plan_resend(pending: Collection[bytes], sent: SentTasks, held: HeldUploads, scheduler_address: str) -> ResendPlan:
    """Which of ``pending`` go again and which fail: a task not sent in a kept batch (sent some other way) cannot be
    resent, nor one that reads an upload too large for the client to have kept (the old storage lost it)."""
    plan = ResendPlan()
    covered = sent.covered()
    for task_id in pending:
        if task_id not in covered:
            text = f"the scheduler at {scheduler_address} restarted and lost this task; submit it again"
            plan.lost[task_id] = errors.SchedulerUnavailableError(text)
    for task in sent.pending_tasks(pending):
        missing = [object_id for object_id in objects_used(task) if object_id not in held]
        if not missing:
            plan.tasks.append(task)
            continue
        text = (
            f"the scheduler at {scheduler_address} restarted and its object storage lost object "
            f"{missing[0].hex()} of this task, too large for the client to keep a copy; submit it again"
        )
        for task_id in outcome_ids(task):
            plan.lost[task_id] = errors.ObjectStorageError(text)
    return plan
