"""The object storage server a scheduler starts as its child process, and restarts when it dies.

A restart comes back at the same address, empty: the scheduler bumps its core's ``storage_epoch``, which its
echoes carry to clients, and clients re-upload the objects they still hold (``scaler.client.resync``). What no
client kept (large objects, intermediate results of graphs, results waiting to be fetched) is lost: reads of it
fail with ``ObjectLostError`` naming it once their deadline passes, so nothing waits forever.

A storage that keeps dying (more than ``MAX_RESTARTS`` times in ``RESTART_WINDOW_SECONDS``) or cannot start
again is not restarted: the scheduler exits with one line (``StorageDiedError``), as a crash loop only hides
the cause.
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
        start: Callable[[str, int, ServerCredentials | None], subprocess.Popen[bytes]] | None = None,
    ) -> None:
        self.address = address
        self._quota = max_bytes_per_owner
        self._credentials = credentials
        self._start = start or start_object_storage_process  # a test passes a fake
        self._restarts: deque[float] = deque()
        self.process: subprocess.Popen[bytes] | None = self._start(address, max_bytes_per_owner, credentials)

    def check(self, now: float) -> bool:
        """True when the storage died and was restarted (empty); ``StorageDiedError`` when it cannot be."""
        process = self.process
        if process is None or process.poll() is None:
            return False
        status = _exit_status(process.returncode)
        self.process = None
        restarts = self._restarts
        while restarts and restarts[0] <= now - RESTART_WINDOW_SECONDS:
            restarts.popleft()
        if len(restarts) >= MAX_RESTARTS:
            raise StorageDiedError(
                f"the object storage server at {self.address} (pid {process.pid}) exited with {status}, the "
                f"{MAX_RESTARTS + 1}th time in {RESTART_WINDOW_SECONDS:g}s; stopping the scheduler"
            )
        restarts.append(now)
        logger.warning(
            "object storage server at %s (pid %d) exited with %s: restarting it; objects no client kept are lost",
            self.address, process.pid, status,
        )  # fmt: skip
        try:
            self.process = self._start(self.address, self._quota, self._credentials)
        except BindError as error:
            raise StorageDiedError(
                f"the object storage server at {self.address} exited with {status} and could not start again "
                f"({error}); stopping the scheduler"
            ) from None
        return True

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


def start_object_storage_process(
    address: str, max_bytes_per_owner: int = 0, credentials: ServerCredentials | None = None
) -> subprocess.Popen[bytes]:
    """Start an object storage server and wait until it is listening; ``BindError`` (one line) if it cannot.
    It is secured with the scheduler's ``credentials``, handed over in its environment (a command line is
    visible to every local user)."""
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
    finally:
        os.close(ready_write)
    with os.fdopen(ready_read) as ready:
        # The child writes "ok" once bound, or the reason it could not bind; EOF alone means it died first.
        readable = select.select([ready], [], [], STORAGE_START_SECONDS)[0]
        report = ready.read() if readable else ""
    if report == "ok":
        return process
    stop_process(process)
    if report:
        raise BindError(f"object storage server: {report}")
    if not readable:
        raise BindError(f"object storage server at {address} did not start in {STORAGE_START_SECONDS:g}s")
    raise BindError(f"object storage server at {address} exited with {_exit_status(process.returncode)} at start")


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
