"""How a combo starts its processes: a fork of this process where that is safe, else a fresh interpreter.

A fresh ``python -m ...`` pays an interpreter start and 0.1-0.2 s of imports; a combo's four of them (plus
their processors) competing for two cores were most of its start-up. This process has already imported nearly
all they need (``from scaler import SchedulerClusterCombo`` brings in the scheduler's and storage's modules), so a
forked child starts serving at once.

A fork is used only when it is safe:

- this process has one thread, as the kernel counts them (native threads too: numpy's pool, a zmq context):
  a fork copies only the forking thread, and a lock another thread held would stay held in the child;
- it is small (``MAX_FORK_RSS_BYTES``): the children live as long as the cluster and keep the pages this
  process had when they were forked, so a large process that later freed its memory would not get it back;
- ``SCALER_COMBO_FORK=0`` is not set.

Otherwise (a notebook kernel, a process with a running Client, numpy's thread pool...) each child is a fresh
interpreter. Either way user code runs only in processors, and a worker always starts those as fresh
interpreters: a task sees the same process whichever way its worker started.

A forked child is made to look like a fresh one: default signal handlers, no inherited logging handlers or
credentials (those this process holds for the clusters it started), standard
streams on descriptors 0-2 and no other inherited descriptor (a Popen child gets only those), the parent's
objects left alone by its garbage collector (so none of the parent's open files is finalized there). It never
returns into the parent's code or runs its atexit handlers: it ends with ``os._exit``.
"""

from __future__ import annotations

import faulthandler
import gc
import importlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable

from scaler.io.lifetime import ChildProcess, child_environment, exit_with_parent, fork_child, stdin_from_devnull
from scaler.security.local import forget_inherited

FORK_ENV = "SCALER_COMBO_FORK"
MAX_FORK_RSS_BYTES = 512 << 20


def fork_refusal() -> str | None:
    """Why this process must not fork its cluster's processes (None: it may)."""
    if os.environ.get(FORK_ENV, "1") == "0":
        return f"{FORK_ENV}=0"
    if not hasattr(os, "fork"):
        return "no fork on this platform"
    try:
        threads = len(os.listdir("/proc/self/task"))
        with open("/proc/self/statm") as statm:
            rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return "no /proc to count this process's threads"
    if threads != 1:
        return f"this process has {threads} threads"
    if rss > MAX_FORK_RSS_BYTES:
        return f"this process is large ({rss >> 20} MB resident)"
    return None


def start_child(module: str, argv: list[str], environment: dict[str, str], fork: bool) -> ChildProcess:
    """Start ``python -m module *argv`` with ``environment`` added, or, when ``fork`` (see ``fork_refusal``), fork
    and call what that runs: ``run(argv)`` of ``module.__main__``. An empty ``environment`` also drops any
    credentials this process has in its environment."""
    from scaler.security.credentials import ENVIRONMENT_VARIABLE

    if not fork:
        env = {**child_environment(), **environment}
        if not environment:
            env.pop(ENVIRONMENT_VARIABLE, None)
        return subprocess.Popen([sys.executable, "-m", module, *argv], stdin=subprocess.DEVNULL, env=env)
    run: Callable[[list[str]], int] = importlib.import_module(f"{module}.__main__").run  # here: once, not per child
    parent = os.getpid()

    def life() -> int:
        _become_fresh(parent)
        os.environ.update(environment)
        if not environment:
            os.environ.pop(ENVIRONMENT_VARIABLE, None)
        return run(argv)

    return fork_child(f"{module} (forked)", life)


def _become_fresh(parent: int) -> None:
    """Make this just-forked child look like a fresh interpreter (see the module's docstring)."""
    gc.freeze()  # the parent's objects: never collected (and their pages never written) here
    signal.set_wakeup_fd(-1)
    for signum in signal.valid_signals():
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            handler = signal.getsignal(signum)
            if handler is not None and handler not in (signal.SIG_DFL, signal.default_int_handler):
                signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as Python sets it at start
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    exit_with_parent(parent)
    forget_inherited()  # the credentials the parent holds for its own clusters
    logging.disable(logging.NOTSET)
    for logger in [logging.root, *logging.root.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            logger.handlers = []
            logger.setLevel(logging.NOTSET if logger is not logging.root else logging.WARNING)
            logger.propagate = True
            logger.disabled = False
    stdin_from_devnull()  # never the terminal's
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", closefd=False, buffering=1)
    sys.stderr = open(2, "w", closefd=False, buffering=1)
    if faulthandler.is_enabled():  # it may write to a descriptor closed below (pytest's copy of stderr)
        faulthandler.cancel_dump_traceback_later()
        faulthandler.enable(sys.stderr)
    os.closerange(3, _highest_descriptor() + 1)


def _highest_descriptor() -> int:
    try:
        return max(int(name) for name in os.listdir("/proc/self/fd"))
    except (OSError, ValueError):
        return 1024
