"""Tie a child process's life to its parent's, so that no orphan outlives a crashed agent or combo."""

from __future__ import annotations

import ctypes
import os
import signal
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
    """What a combo needs of a child, met by ``subprocess.Popen`` and ``ForkedChild``."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...
