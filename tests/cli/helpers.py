"""Start the real console scripts as subprocesses on free loopback ports, and always stop them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scaler.io.address import free_tcp_port

BIN = Path(sys.executable).parent


def free_port_block(size: int = 3) -> int:
    """A port P such that P..P+size-1 were all free (scheduler, object storage at +1, monitor at +2)."""
    for _ in range(100):
        port = free_tcp_port()
        if port + size >= 65535:
            continue
        try:
            probes = []
            for offset in range(size):
                probe = socket.socket()
                probe.bind(("127.0.0.1", port + offset))
                probes.append(probe)
        except OSError:
            continue
        finally:
            for probe in locals().get("probes", []):
                probe.close()
        return port
    raise RuntimeError("no block of free ports")


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@contextmanager
def command(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """Run ``args`` (args[0] is a console script name) and stop it (SIGTERM, then SIGKILL) afterwards."""
    program = str(BIN / args[0])
    process = subprocess.Popen(
        [program, *args[1:]], cwd=cwd, env={**os.environ, **(env or {})}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[str], timeout: float = 15.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def run(*args: str, timeout: float = 60.0, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    program = str(BIN / args[0])
    return subprocess.run(
        [program, *args[1:]], capture_output=True, text=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL
    )
