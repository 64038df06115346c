"""Run the launcher's child processes and take them all down together.

Children start in plan order, each fed its own section through a temporary TOML file. A child that exits is
reported (an error when its code is not 0) and the others keep running, unless it is *essential* (the scheduler,
or the object storage server it uses): then, as when the launcher gets SIGINT/SIGTERM, every child still running
is stopped in reverse start order (SIGTERM, up to ``stop_timeout`` seconds' grace, then SIGKILL), so that
managers leave before the scheduler and the scheduler before its object storage. The launcher also ends when no
child is left. Only the processes started here are signalled, by their PIDs.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from types import FrameType

from scaler.cli.launch_plan import LaunchStep
from scaler.io.address import Address
from scaler.io.lifetime import child_environment

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.1
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "*": "127.0.0.1", "::": "::1", "": "127.0.0.1"}

Child = tuple[LaunchStep, subprocess.Popen[bytes]]


def exit_status(returncode: int) -> int:
    """A child's return code as a shell exit status (killed by signal N -> 128 + N)."""
    return returncode if returncode >= 0 else 128 - returncode


def supervise(steps: Sequence[LaunchStep], *, stop_timeout: float = 10.0, ready_timeout: float = 30.0) -> int:
    """Start ``steps``, run until an essential child exits, every child has exited or a stop signal arrives, stop
    the rest; return the exit status.

    The status is the essential child's when one ended the stack; otherwise the first non-zero code of a child
    that ended (0 when every one exited cleanly); 0 when a signal asked to stop.
    Must run in the main thread (it installs signal handlers, and restores the previous ones on return).
    """
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    children: list[Child] = []
    try:
        with tempfile.TemporaryDirectory(prefix="scaler-launch-") as folder:
            try:
                return _start_and_watch(steps, folder, children, received, ready_timeout)
            finally:
                # Inside the with: the children's config files exist until the children are gone.
                stop_children(children, stop_timeout)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _start_and_watch(
    steps: Sequence[LaunchStep], folder: str, children: list[Child], received: list[int], ready_timeout: float
) -> int:
    for index, step in enumerate(steps):
        if received:
            return _stopped_by_signal(received)
        config_path = os.path.join(folder, f"{index:02d}.toml")
        with open(config_path, "w", encoding="utf-8") as file:
            file.write(step.toml_text)
        # child_environment(): the child asks the kernel to kill it if the launcher dies without stopping it.
        environment = {**child_environment(), **dict(step.environment)}
        process = subprocess.Popen([*step.command, "--config", config_path], env=environment)
        children.append((step, process))
        logger.info("started %s (pid %d)", step.label, process.pid)
        if step.ready_address is not None and not _wait_until_ready(
            step.ready_address, process, received, ready_timeout
        ):
            if received:
                return _stopped_by_signal(received)
            if process.poll() is None:
                logger.error(
                    "%s did not accept connections at %s within %gs", step.label, step.ready_address, ready_timeout
                )
                return 1
            return _child_exited(step, process.returncode)
    running = list(children)
    first_failure = 0
    while True:
        if received:
            return _stopped_by_signal(received)
        for child in list(running):
            step, process = child
            if process.poll() is None:
                continue
            running.remove(child)
            status = _child_exited(step, process.returncode, stops_all=step.essential or not running)
            if step.essential:
                return status
            first_failure = first_failure or status
        if not running:
            return first_failure
        time.sleep(POLL_SECONDS)


def _stopped_by_signal(received: list[int]) -> int:
    logger.info("received %s: stopping", signal.Signals(received[0]).name)
    return 0


def _child_exited(step: LaunchStep, returncode: int, stops_all: bool = True) -> int:
    log = logger.info if returncode == 0 else logger.error
    then = "stopping the other processes" if stops_all else "the other processes keep running"
    log("%s exited with code %d: %s", step.label, returncode, then)
    return exit_status(returncode)


def stop_children(children: Sequence[Child], timeout: float) -> None:
    """Stop each child still running, last started first: SIGTERM, then SIGKILL after ``timeout`` seconds."""
    for step, process in reversed(children):
        if process.poll() is not None:
            continue
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s (pid %d) ignored SIGTERM for %gs: killing it", step.label, process.pid, timeout)
            process.kill()
            process.wait()


def _wait_until_ready(address: Address, process: subprocess.Popen[bytes], received: list[int], timeout: float) -> bool:
    """Wait until ``address`` accepts a connection; False if the child exits, a signal arrives, or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if received or process.poll() is not None:
            return False
        if _accepts_connections(address):
            return True
        time.sleep(POLL_SECONDS)
    return False


def _accepts_connections(address: Address) -> bool:
    if address.scheme == "ipc":
        return os.path.exists(address.host)
    host = _WILDCARD_HOSTS.get(address.host, address.host)
    try:
        with socket.create_connection((host, address.port), timeout=1.0):
            return True
    except OSError:
        return False
