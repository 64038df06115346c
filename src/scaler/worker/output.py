"""Forward what a task prints to its client, when the client asked for it (``Client(stream_output=True)``).

Output is line-buffered per task and stream: ``print("a", x)`` makes four writes ("a", " ", "x", "\\n"), and
sending each as a message of its own would make the client label and print four fragments. A line goes out
when it is complete; what is left without a newline goes out when the task ends (or when it grows past
``_MAX_PENDING`` characters, so that a task printing without newlines cannot hold unbounded memory).
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator

from scaler.io.pipes import write_frame
from scaler.protocol import codec
from scaler.protocol import messages as m

STDOUT, STDERR = 1, 2
_MAX_PENDING = 64 * 1024


class _TaskStream(io.TextIOBase):
    """A text stream that ships complete lines to the agent as TaskLog messages."""

    def __init__(self, fd: int, task_id: bytes, stream: int) -> None:
        self._fd = fd
        self._task_id = task_id
        self._stream = stream
        self._pending: list[str] = []
        self._pending_size = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not text:
            return 0
        newline = text.rfind("\n")
        if newline < 0:
            self._pending.append(text)
            self._pending_size += len(text)
            if self._pending_size >= _MAX_PENDING:
                self.flush()
            return len(text)
        # Everything up to the last newline goes now, in one message; the rest waits for its line to end.
        self._pending.append(text[: newline + 1])
        self._send("".join(self._pending))
        rest = text[newline + 1 :]
        self._pending, self._pending_size = ([rest], len(rest)) if rest else ([], 0)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending, self._pending_size = [], 0
            self._send(text)

    def _send(self, text: str) -> None:
        write_frame(self._fd, codec.encode_one(m.TaskLog(self._task_id, self._stream, text)))


@contextlib.contextmanager
def capture_output(fd: int, task: m.Task) -> Iterator[None]:
    """While the task runs, what it prints goes to the client, line by line (the task asked for it: STREAM_OUTPUT)."""
    saved = sys.stdout, sys.stderr
    stdout, stderr = _TaskStream(fd, task.task_id, STDOUT), _TaskStream(fd, task.task_id, STDERR)
    sys.stdout, sys.stderr = stdout, stderr
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        stdout.flush()  # a last line without a newline still reaches the client, before the task's result
        stderr.flush()
