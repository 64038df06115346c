"""The agent's handles on its processor subprocesses.

Each processor gets two pipes (tasks in, results out). Only the processor holds the write end of its
results pipe, so the agent's reader sees end-of-file the moment the processor dies, however it dies.
"""

from __future__ import annotations

import builtins
import os
import signal
import subprocess
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

from scaler.io.lifetime import ChildProcess, exit_descriptor, fork_child, stdin_from_devnull
from scaler.io.pipes import ClaimLock, FrameReader, write_frame
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.worker.agent.options import WorkerOptions

# Not ``-m scaler.worker.processor``: that would run the module as ``__main__``, a second copy of it, and
# ``Processor.get_current_processor()`` (which libraries such as parfun call from inside tasks) would then
# look at a class that is not the one running the task.
# Nor ``import sys; ...``: the names would stay in its __main__, which tasks can see; it is left empty.
_PROCESSOR_MAIN = "__import__('scaler.worker.processor', fromlist=['main']).main(__import__('sys').argv[1:])"


class ProcessorHandle:
    """A processor: a fresh interpreter, or (``fork``) a fork of this agent, which must then be a fresh interpreter
    itself with no thread started yet: the first processor of a worker started with ``python -m`` is forked, which
    spares it an interpreter start and its imports (most of a worker's start-up on a busy machine)."""

    def __init__(self, options: WorkerOptions, fork: bool = False) -> None:
        task_read, self.task_fd = os.pipe()
        self.result_fd, result_write = os.pipe()
        self._claims = ClaimLock.create()
        arguments = [
            str(task_read), str(result_write), str(self._claims.fd),
            options.scheduler_address,
            str(options.garbage_collect_interval_seconds), str(options.trim_memory_threshold_bytes),
            options.preload or "", options.logging_level, str(os.getpid()),
        ]  # fmt: skip
        try:
            if fork:
                self.process: ChildProcess = self._fork(arguments)
            else:
                self.process = subprocess.Popen(
                    [sys.executable, "-c", _PROCESSOR_MAIN, *arguments],
                    stdin=subprocess.DEVNULL,
                    pass_fds=(task_read, result_write, self._claims.fd),
                )
        finally:
            os.close(task_read)
            os.close(result_write)
        self.pid = self.process.pid
        self.exit_fd = exit_descriptor(self.pid)
        self.reader = FrameReader(self.result_fd)
        self.hard_suspended = False
        self._closed = False

    def _fork(self, arguments: list[str]) -> ChildProcess:
        from scaler.worker.processor import main  # imported here, before the fork: the child starts ready

        def life() -> None:
            os.close(self.task_fd)  # the agent's ends: the processor must see end-of-file when the agent dies
            os.close(self.result_fd)
            stdin_from_devnull()
            # What ``python -c`` would give it: an empty __main__ (tasks must not see the agent's: a function pickled
            # by reference to __main__ is then not found, and said so, the same either way), and its argv.
            main_module = types.ModuleType("__main__")
            main_module.__builtins__ = builtins  # type: ignore[attr-defined]
            sys.modules["__main__"] = main_module
            sys.argv = ["-c", *arguments]
            main(arguments)

        return fork_child("processor", life)

    @contextmanager
    def holding_claims(self) -> Iterator[None]:
        """Keep the processor from taking another task from its pipe (it may finish the running one meanwhile)."""
        stopped = self.hard_suspended  # a stopped processor may hold the lock: let it run on to let go of it
        if stopped:
            self._signal(signal.SIGCONT)
        try:
            with self._claims:
                yield
        finally:
            if stopped and self.hard_suspended:  # unless resumed meanwhile
                self._signal(signal.SIGTSTP)

    def send(self, message: m.ProcessorTask | m.TaskCancel | m.ObjectsReleased) -> None:
        try:
            write_frame(self.task_fd, codec.encode_one(message))
        except OSError:
            pass  # it died: its end-of-file is already on the way to the agent's loop

    def suspend(self, hard: bool) -> None:
        """Soft: nothing to do (its task waits on its nested tasks anyway); hard: stop the process (SIGTSTP)."""
        if hard:
            self._signal(signal.SIGTSTP)
            self.hard_suspended = True

    def resume(self) -> None:
        if self.hard_suspended:
            self._signal(signal.SIGCONT)
            self.hard_suspended = False

    def exit_description(self) -> str:
        code = self.process.poll()
        if code is None:
            return f"processor (pid {self.pid}) is unresponsive"
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            return f"processor (pid {self.pid}) was killed by signal {name}"
        return f"processor (pid {self.pid}) exited with code {code}"

    def has_exited(self) -> bool:
        return self.process.poll() is not None

    def kill(self) -> None:
        if self.process.poll() is None:
            self._signal(signal.SIGKILL)
        self.process.wait()
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.task_fd)
            os.close(self.result_fd)
            if self.exit_fd is not None:
                os.close(self.exit_fd)
            self._claims.close()

    def _signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass
