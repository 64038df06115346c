"""The object storage server a scheduler starts as its child process, and restarts when it dies.

A restart comes back at the same address, empty: the scheduler bumps its core's ``storage_epoch``, which its
echoes carry to clients, and clients re-upload the objects they still hold (``scaler.client.resync``). What no
client kept (large objects, intermediate results of graphs, results waiting to be fetched) is lost: reads of it
fail with ``ObjectLostError`` naming it once their deadline passes, so nothing waits forever.

A storage that keeps dying (more than ``MAX_RESTARTS`` times in ``RESTART_WINDOW_SECONDS``) or cannot start
again is not restarted: the scheduler exits with one line (``StorageDiedError``), as a crash loop only hides
the cause.

The first start waits for the child to listen (a scheduler whose storage cannot bind does not start). A restart does
not: the scheduler goes on serving its clients and workers while a fresh interpreter starts, which on a busy machine
takes seconds, and learns that it listens from its ready pipe (``StorageChild.restarting_fd``).
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Callable

from scaler.io.lifetime import ChildProcess, child_environment
from scaler.io.logs import FatalError
from scaler.io.sockets import BindError
from scaler.security.credentials import ENVIRONMENT_VARIABLE, ServerCredentials

logger = logging.getLogger("scaler.scheduler")

STORAGE_START_SECONDS = 60.0  # a Python start on a loaded machine can take many seconds; this means "broken"
MAX_RESTARTS = 3
RESTART_WINDOW_SECONDS = 60.0


class StorageDiedError(FatalError):
    """The object storage server this scheduler started exited and could not be restarted: the scheduler stops."""


class StorageChild:
    """The storage process and its restart history; ``check`` is called on the scheduler's tick."""

    def __init__(
        self,
        address: str,
        max_bytes_per_owner: int,
        credentials: ServerCredentials | None,
        spawn: Callable[[str, int, ServerCredentials | None], StartingStorage] | None = None,
    ) -> None:
        self.address = address
        self._quota = max_bytes_per_owner
        self._credentials = credentials
        self._spawn = spawn or spawn_object_storage_process  # a test passes a fake
        self._restarts: deque[float] = deque()
        self._starting: StartingStorage | None = None  # a restart not yet listening
        self._status = ""  # how the process the restart replaces ended
        first = self._spawn(address, max_bytes_per_owner, credentials)
        self.process: ChildProcess | None = first.wait_until_listening(STORAGE_START_SECONDS)

    @property
    def restarting_fd(self) -> int | None:
        """While a restart is under way: the descriptor that becomes readable once it listens (or died)."""
        return self._starting.ready_fd if self._starting is not None else None

    def check(self, now: float) -> bool:
        """True when the storage died and a restart began (``restarting_fd`` then tells when it listens);
        ``StorageDiedError`` when it cannot be restarted, or a restart did not listen in time."""
        starting = self._starting
        if starting is not None:
            if now > starting.deadline:
                self._starting = None
                self._abandon(starting, f"did not start again in {STORAGE_START_SECONDS:g}s")
            return False
        process = self.process
        if process is None or process.poll() is None:
            return False
        self._status = _exit_status(process.poll())
        self.process = None
        restarts = self._restarts
        while restarts and restarts[0] <= now - RESTART_WINDOW_SECONDS:
            restarts.popleft()
        if len(restarts) >= MAX_RESTARTS:
            raise StorageDiedError(
                f"the object storage server at {self.address} (pid {process.pid}) exited with {self._status}, the "
                f"{MAX_RESTARTS + 1}th time in {RESTART_WINDOW_SECONDS:g}s; stopping the scheduler"
            )
        restarts.append(now)
        logger.warning(
            "object storage server at %s (pid %d) exited with %s: restarting it; objects no client kept are lost",
            self.address, process.pid, self._status,
        )  # fmt: skip
        try:
            self._starting = self._spawn(self.address, self._quota, self._credentials)
        except OSError as error:
            raise self._could_not_restart(str(error)) from None
        self._starting.deadline = now + STORAGE_START_SECONDS
        return True

    def on_ready(self) -> None:
        """The restart's ready pipe is readable: it listens now (``StorageDiedError`` if it could not start)."""
        starting, self._starting = self._starting, None
        if starting is None:
            return
        report = starting.read_report()
        if report != "ok":
            self._abandon(starting, report or "exited at start")
        self.process = starting.process
        logger.info("object storage server at %s (pid %d) listens again", self.address, starting.process.pid)

    def _abandon(self, starting: StartingStorage, why: str) -> None:
        stop_process(starting.process)
        starting.close()
        raise self._could_not_restart(why)

    def _could_not_restart(self, why: str) -> StorageDiedError:
        return StorageDiedError(
            f"the object storage server at {self.address} exited with {self._status} and could not start again "
            f"({why}); stopping the scheduler"
        )

    def stop(self) -> None:
        if self._starting is not None:
            stop_process(self._starting.process)
            self._starting.close()
            self._starting = None
        if self.process is not None:
            stop_process(self.process)
            self.process = None


class StartingStorage:
    """A storage process that was started, and the pipe on which it says "ok" once it listens (or why it cannot)."""

    def __init__(self, address: str, process: ChildProcess, ready_fd: int) -> None:
        self.address = address
        self.process = process
        self.ready_fd = ready_fd
        self.deadline = 0.0  # set by a restart, which does not wait

    def read_report(self) -> str:
        """What the child wrote: "ok", the reason it could not bind, or "" (it died first). Closes the pipe."""
        try:
            with os.fdopen(self.ready_fd) as ready:
                self.ready_fd = -1
                return ready.read()
        except OSError:
            return ""

    def close(self) -> None:
        if self.ready_fd >= 0:
            os.close(self.ready_fd)
            self.ready_fd = -1

    def wait_until_listening(self, timeout: float) -> ChildProcess:
        """The process, once it listens; ``BindError`` (one line) if it cannot."""
        readable = select.select([self.ready_fd], [], [], timeout)[0]
        report = self.read_report() if readable else ""
        self.close()
        if report == "ok":
            return self.process
        stop_process(self.process)
        if report:
            raise BindError(f"object storage server: {report}")
        if not readable:
            raise BindError(f"object storage server at {self.address} did not start in {timeout:g}s")
        raise BindError(
            f"object storage server at {self.address} exited with {_exit_status(self.process.poll())} at start"
        )


def spawn_object_storage_process(
    address: str, max_bytes_per_owner: int = 0, credentials: ServerCredentials | None = None
) -> StartingStorage:
    """Start an object storage server; it reports on the returned pipe once it listens. It is secured with the
    scheduler's ``credentials``, handed over in its environment (a command line is visible to every local user)."""
    logger.info("starting object storage server at %s", address)
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())  # the scheduler's own logging level
    command = [sys.executable, "-m", "scaler.object_storage", address, level, str(max_bytes_per_owner)]
    ready_read, ready_write = os.pipe()
    environment = {**child_environment(), "SCALER_READY_FD": str(ready_write)}
    environment.pop(ENVIRONMENT_VARIABLE, None)
    if credentials is not None:
        source = credentials.path.resolve() if credentials.path else None
        environment[ENVIRONMENT_VARIABLE] = str(source) if source else credentials.to_toml()
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, env=environment, pass_fds=(ready_write,))
    except BaseException:
        os.close(ready_read)
        raise
    finally:
        os.close(ready_write)
    # The child writes "ok" once bound, or the reason it could not bind; end-of-file alone means it died first.
    return StartingStorage(address, process, ready_read)


def _exit_status(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"code {code}"


def stop_process(process: ChildProcess, grace_seconds: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
