"""The agent's handles on its processor subprocesses.

A processor is watched through a pidfd (Linux): the descriptor becomes readable the moment the process
exits, so the agent learns of a crash at once instead of on its next poll of ``waitpid``.
"""

from __future__ import annotations

import enum
import os
import signal
import subprocess
import sys
import time

from scaler.protocol import messages as m
from scaler.worker.agent.options import WorkerOptions


class ProcessorState(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    SUSPENDED = "suspended"  # its task waits (e.g. on nested tasks) while a higher-priority one runs


class ProcessorHandle:
    def __init__(self, options: WorkerOptions, agent_address: str) -> None:
        command = [
            sys.executable, "-m", "scaler.worker.processor", agent_address, options.scheduler_address,
            str(options.garbage_collect_interval_seconds), str(options.trim_memory_threshold_bytes),
            options.preload or "", options.logging_level,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        self.pid = self.process.pid
        self.identity = f"Processor|{self.pid}".encode()
        self.state = ProcessorState.STARTING
        self.task: m.Task | None = None
        self.task_started = 0.0
        self.deadline: float | None = None
        self.hard_suspended = False
        try:
            self.exit_fd: int | None = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # not Linux >= 5.3: the agent falls back to polling
            self.exit_fd = None

    def assign(self, task: m.Task, timeout_seconds: float) -> None:
        self.state = ProcessorState.BUSY
        self.task = task
        self.task_started = time.monotonic()
        self.deadline = self.task_started + timeout_seconds if timeout_seconds > 0 else None

    def release(self) -> m.Task | None:
        task, self.task, self.deadline = self.task, None, None
        self.state = ProcessorState.IDLE
        return task

    def suspend(self, hard: bool) -> None:
        self.state = ProcessorState.SUSPENDED
        if hard:
            self._signal(signal.SIGTSTP)
            self.hard_suspended = True

    def resume(self) -> None:
        self.state = ProcessorState.BUSY if self.task is not None else ProcessorState.IDLE
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
        if self.exit_fd is not None:
            os.close(self.exit_fd)
            self.exit_fd = None

    def _signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass
