"""Forward what a task prints to its client, when the client asked for it (``Client(stream_output=True)``)."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator

from scaler.io.pipes import write_frame
from scaler.protocol import codec
from scaler.protocol import messages as m

STDOUT, STDERR = 1, 2


class _TaskStream(io.TextIOBase):
    """A text stream that ships each write to the agent as a TaskLog (line-buffered by the caller's writes)."""

    def __init__(self, fd: int, task_id: bytes, stream: int) -> None:
        self._fd = fd
        self._task_id = task_id
        self._stream = stream

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            write_frame(self._fd, codec.encode_one(m.TaskLog(self._task_id, self._stream, text)))
        return len(text)


@contextlib.contextmanager
def capture_output(fd: int, task: m.Task) -> Iterator[None]:
    if not task.flags & m.TaskFlags.STREAM_OUTPUT:
        yield
        return
    saved = sys.stdout, sys.stderr
    sys.stdout = _TaskStream(fd, task.task_id, STDOUT)
    sys.stderr = _TaskStream(fd, task.task_id, STDERR)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
