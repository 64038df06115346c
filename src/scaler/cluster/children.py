"""How a combo starts its processes: forked where that is safe, else fresh interpreters.

A fresh ``python -m ...`` pays an interpreter start and 0.1-0.2 s of imports; a combo's four of them (plus
their processors) competing for two cores were most of its start-up. A fork of a process that has imported the
cluster's modules starts serving at once.

A combo's processes are forked by this process's fork server (``fork_server``): a fork of this process, made when
this process may fork, else a fresh interpreter made for the purpose. This process may fork when:

- it has one thread, as the kernel counts them (native threads too: numpy's pool, a zmq context): a fork copies
  only the forking thread, and a lock another thread held would stay held in the child;
- it is small (``MAX_FORK_RSS_BYTES``): the server lives as long as this process and keeps the pages this process
  had when it was forked, so a large process that later freed its memory would not get it back.

``SCALER_COMBO_FORK=0`` turns all of this off: each child is then a fresh interpreter. Either way user code runs
only in processors, which are fresh interpreters or forks of a process that never ran user code: a task sees the
same process whichever way its worker started.

A forked child is made to look like a fresh one (``become_fresh``): default signal handlers, no inherited logging
handlers or credentials (those this process holds for the clusters it started), standard streams on descriptors
0-2 and no other inherited descriptor (a Popen child gets only those), the parent's objects left alone by its
garbage collector (so none of the parent's open files is finalized there). It never returns into the parent's
code or runs its atexit handlers: it ends with ``os._exit``.
"""

from __future__ import annotations

import faulthandler
import gc
import logging
import os
import signal
import subprocess
import sys

from scaler.io.lifetime import ChildProcess, child_environment, exit_with_parent, stdin_from_devnull
from scaler.security.local import forget_inherited

logger = logging.getLogger("scaler.cluster")

FORK_ENV = "SCALER_COMBO_FORK"
MAX_FORK_RSS_BYTES = 512 << 20


def never_fork() -> str | None:
    """Why no process of a combo may be forked at all (None: they may, by a fork server at least)."""
    if os.environ.get(FORK_ENV, "1") == "0":
        return f"{FORK_ENV}=0"
    if not hasattr(os, "fork"):
        return "no fork on this platform"
    return None


def fork_refusal() -> str | None:
    """Why this process must not fork its cluster's processes itself (None: it may)."""
    never = never_fork()
    if never is not None:
        return never
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


class ChildStarter:
    """How one combo starts its processes: through this process's fork server (see ``fork_server``), or, when
    ``SCALER_COMBO_FORK=0`` is set, this platform cannot fork, or the server cannot start, as fresh interpreters."""

    def __init__(self) -> None:
        from scaler.cluster.fork_server import ForkServer

        self.server: ForkServer | None = None
        self.how = "as fresh interpreters"
        never = never_fork()
        if never is not None:
            self.how += f" ({never})"
            return
        refusal = fork_refusal()
        try:
            self.server = ForkServer.shared(may_fork=refusal is None)
        except OSError as error:
            self.how += f" (the fork server did not start: {error})"
            return
        self.how = "by a fork server, " + ("a fresh interpreter" if self.server.fresh else "a fork of this process")

    def start(self, module: str, argv: list[str], environment: dict[str, str]) -> ChildProcess:
        """Start what ``python -m module *argv`` runs with ``environment`` added. An empty ``environment`` also
        drops any credentials this process has in its environment."""
        if self.server is not None:
            try:
                return self.server.start(module, argv, environment)
            except OSError as error:  # it died meanwhile: this child, and the rest of the combo, start afresh
                logger.warning("starting %s as a fresh interpreter: %s", module, error)
                self.server = None
        env = environment_for_child(environment)
        return subprocess.Popen([sys.executable, "-m", module, *argv], stdin=subprocess.DEVNULL, env=env)


def environment_for_child(environment: dict[str, str]) -> dict[str, str]:
    """This process's environment with ``environment`` over it, and the variable that ties a child started by this
    process to it (see ``lifetime``). An empty ``environment`` also drops the credentials this process has in its
    environment: a combo started with ``secure=False`` gives its processes none."""
    from scaler.security.credentials import ENVIRONMENT_VARIABLE

    env = {**child_environment(), **environment}
    if not environment:
        env.pop(ENVIRONMENT_VARIABLE, None)
    return env


def become_fresh(parent: int, keep: tuple[int, ...] = ()) -> None:
    """Make this just-forked child look like a fresh interpreter (see the module's docstring); ``keep``: descriptors
    (above 2) it keeps open."""
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
    for each in [logging.root, *logging.root.manager.loggerDict.values()]:
        if isinstance(each, logging.Logger):
            each.handlers = []
            each.setLevel(logging.NOTSET if each is not logging.root else logging.WARNING)
            each.propagate = True
            each.disabled = False
    stdin_from_devnull()  # never the terminal's
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", closefd=False, buffering=1)
    sys.stderr = open(2, "w", closefd=False, buffering=1)
    if faulthandler.is_enabled():  # it may write to a descriptor closed below (pytest's copy of stderr)
        faulthandler.cancel_dump_traceback_later()
        faulthandler.enable(sys.stderr)
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _highest_descriptor() + 1)


def _highest_descriptor() -> int:
    try:
        return max(int(name) for name in os.listdir("/proc/self/fd"))
    except (OSError, ValueError):
        return 1024
