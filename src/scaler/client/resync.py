"""What a client keeps so that it can tell a restarted scheduler everything the old one forgot.

A scheduler that restarts (killed, then started again on the same address) knows none of this client's
tasks, and its object storage (its child) lost every upload. The client still holds the futures, so it can
send the unfinished tasks again and put back the objects they read. To do that without slowing the hot path,
it keeps the *encoded batches* it already sent (one reference per batch, with the ids of the tasks in it,
dropped once all of them are done) and the frames of its live uploads (dropped when the upload is deleted).

The cost: a finished batch is dropped at the next sweep, and an upload's frames stay referenced while the
upload is alive (for a large argument, that keeps its serialized bytes in the client's memory as long as
object storage holds it).
"""

from __future__ import annotations

import threading
from collections.abc import Container, Sequence
from typing import Any

from scaler.protocol import codec
from scaler.protocol import messages as m


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

    def resend_batches(self, pending: Container[bytes], limit: int = 1000) -> list[bytes]:
        """Re-encoded batches of the tasks among ``pending`` (each at most ``limit`` tasks), oldest first."""
        with self._lock:
            batches = list(self._batches)
        tasks: list[Any] = []
        for payload, task_ids in batches:
            if not any(tid in pending for tid in task_ids):
                continue
            for message in codec.decode(payload):
                if isinstance(message, m.Task) and message.task_id in pending:
                    tasks.append(message)
        return [codec.encode(tasks[start : start + limit]) for start in range(0, len(tasks), limit)]

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
                self._objects[header.object_id] = list(frames[1:])
            elif isinstance(header, m.ObjectDelete):
                for object_id in header.object_ids:
                    self._objects.pop(object_id, None)
            elif isinstance(header, m.ObjectDeleteOwner):
                self._objects.clear()  # a client only ever deletes its own prefix (clear())

    def uploads(self) -> list[list[Any]]:
        """Every held upload as the frames of an ObjectPut, ready to send again."""
        with self._lock:
            held = list(self._objects.items())
        return [[codec.encode_one(m.ObjectPut(object_id, 0)), *frames] for object_id, frames in held]
