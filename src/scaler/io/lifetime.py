"""Tie a child process's life to its parent's, so that no orphan outlives a crashed agent or combo."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Protocol

_PR_SET_PDEATHSIG = 1


def exit_with_parent(expected_parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux); exit now if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the death timeout still ends an orphaned worker
        return
    if os.getppid() != expected_parent_pid:  # the parent died before prctl took effect
        os._exit(1)


PARENT_ENV = "SCALER_EXIT_WITH_PARENT"


def child_environment() -> dict[str, str]:
    """The environment for a child that must die with this process (see ``exit_with_parent_from_env``)."""
    return {**os.environ, PARENT_ENV: str(os.getpid())}


def exit_with_parent_from_env() -> None:
    parent = os.environ.pop(PARENT_ENV, "")
    if parent.isdigit():
        exit_with_parent(int(parent))


class ChildProcess(Protocol):
    """What a combo needs of a child, met by ``subprocess.Popen``, ``ForkedChild`` and the fork server's children."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


def wait_by_polling(child: ChildProcess, name: str, timeout: float | None) -> int:
    """``Popen.wait(timeout)`` for a child known only by its ``poll()`` (there is no waitpid with a timeout)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.0005
    while (code := child.poll()) is None:
        remaining = 0.05 if deadline is None else deadline - time.monotonic()
        if remaining <= 0:
            raise subprocess.TimeoutExpired(name, timeout or 0.0)
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.05)
    return code


class ForkedChild:
    """A forked child, handled like a ``subprocess.Popen``."""

    def __init__(self, pid: int, name: str) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._name = name

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored, or a wait() of the user's)
                self.returncode = 0
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            code = self.poll()
            if code is None:
                try:
                    code = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
                except ChildProcessError:
                    code = 0
                self.returncode = code
            return code
        return wait_by_polling(self, self._name, timeout)

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass


def fork_child(name: str, life: Callable[[], int | None]) -> ForkedChild:
    """Fork; the child runs ``life`` and ends with ``os._exit`` (its status: what ``life`` returns, 0 for None, or
    as the interpreter reports ``sys.exit``; 1 with a traceback if it raises). It never returns into the caller's
    code, nor runs the parent's atexit handlers."""
    for stream in (sys.stdout, sys.stderr):  # or the child would write this process's pending output again
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    pid = os.fork()
    if pid:
        return ForkedChild(pid, name)
    code = 1
    try:
        code = life() or 0
    except SystemExit as exit_:
        if isinstance(exit_.code, int) or exit_.code is None:
            code = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stderr.flush()
            sys.stdout.flush()
        finally:
            os._exit(code)


def exit_descriptor(pid: int) -> int | None:
    """A descriptor that becomes readable when process ``pid`` exits (a pidfd: Linux 5.3 and later), or None.

    A pipe's end-of-file says it too, but only once every process holding the write end has exited or closed it:
    a child of a child (a task's own subprocess) keeps it open. A pidfd says it at once, where only polling would.
    """
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def stdin_from_devnull() -> None:
    """Standard input from /dev/null, as a child started with ``stdin=subprocess.DEVNULL`` has it."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
