"""scaler_top in a real terminal (tmux): what a person sees, the keys they press, and how it ends."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scaler import Client
from tests.monitor.conftest import MonitoredCluster

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed: run scripts/install-system-deps"),
]

SCALER_TOP = str(Path(sys.executable).parent / "scaler_top")


class Terminal:
    """One tmux server of our own (its own socket name), so that nothing else's sessions are touched."""

    def __init__(self, directory: Path, width: int = 160, height: int = 40) -> None:
        self.socket = f"scaler-test-{uuid.uuid4().hex[:8]}"
        self.directory = directory
        self.size = (width, height)
        self.status_file = directory / "exit-status"

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        return done.stdout

    def start(self, *command: str) -> None:
        """Run ``command`` in the terminal, under a shell that records its exit status in a file.

        tmux's own record of a dead pane (remain-on-exit) proved unreliable: the status is sometimes empty and
        the last screen sometimes blank. So the shell writes the status, then sleeps, which keeps the pane and
        its last screen until the test kills the server. It traps SIGINT with a command, which the program
        does not inherit, so that Ctrl-C reaches the program as usual while the shell lives on.
        """
        width, height = self.size
        script = f'trap : INT; "$@"; echo $? > {shlex.quote(str(self.status_file))}; exec sleep 600'
        env = {**os.environ, "TERM": "xterm-256color", "LANG": os.environ.get("LANG", "C.UTF-8")}
        subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", "new-session", "-d", "-s", "top", "-x", str(width),
             "-y", str(height), "bash", "-c", script, "scaler_top", *command],
            check=True, env=env, timeout=10,
        )  # fmt: skip

    def exit_status(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while not self.status_file.exists() or not self.status_file.read_text().strip():
            if time.monotonic() > deadline:
                raise AssertionError(f"scaler_top did not exit; the screen shows:\n{self.screen()}")
            time.sleep(0.05)
        return int(self.status_file.read_text())

    def screen(self) -> str:
        return self.tmux("capture-pane", "-t", "top", "-p")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "top", *keys)

    def wait_for(self, condition: Callable[[str], bool], what: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed {what}; it shows:\n{screen}")
            time.sleep(0.1)

    def close(self) -> None:
        socket_path = self.tmux("display-message", "-p", "#{socket_path}").strip()
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)
        if socket_path.endswith(self.socket):  # tmux leaves its socket file behind
            Path(socket_path).unlink(missing_ok=True)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(tmp_path)
    try:
        yield term
    finally:
        term.close()


def square(x: int) -> int:
    return x * x


def header(screen: str) -> str:
    return next(line for line in screen.splitlines() if "manager" in line and "agt_cpu" in line)


def test_dashboard_shows_the_cluster_sorts_and_quits(monitored_cluster: MonitoredCluster, terminal: Terminal) -> None:
    terminal.start(SCALER_TOP, monitored_cluster.monitor_address, "--timeout", "10")
    screen = terminal.wait_for(lambda s: "2 worker(s)" in s, "two workers")
    for section in ("scheduler", "tasks", "received", "sent", "functions", "sort:", "q=quit"):
        assert section in screen, section
    assert monitored_cluster.address in screen
    rows = [line for line in screen.splitlines() if line.startswith("combo ")]
    assert len(rows) == 2, screen

    terminal.keys("c")
    screen = terminal.wait_for(lambda s: "[cpu]" in header(s), "the cpu column sorted")
    assert "sorted by cpu (largest first)" in screen
    terminal.keys("c")
    terminal.wait_for(lambda s: "sorted by cpu (smallest first)" in s, "the order reversed")
    terminal.keys("n")
    terminal.wait_for(lambda s: "[worker]" in header(s) and "(A..Z)" in s, "sorting by worker")

    with Client(address=monitored_cluster.address) as client:
        assert client.map(square, range(30)) == [x * x for x in range(30)]
    terminal.wait_for(lambda s: "square q0 r0 ok30" in s, "the finished tasks")

    terminal.keys("q")
    assert terminal.exit_status() == 0


def test_ctrl_c_leaves_cleanly(monitored_cluster: MonitoredCluster, terminal: Terminal) -> None:
    terminal.start(SCALER_TOP, monitored_cluster.monitor_address)
    terminal.wait_for(lambda s: "2 worker(s)" in s, "two workers")
    terminal.keys("C-c")
    assert terminal.exit_status() == 0
    screen = terminal.screen()
    assert "Traceback" not in screen and "2 worker(s)" not in screen  # the terminal is restored, not left drawn


def test_a_terminal_too_small_gets_a_message_until_it_grows(
    monitored_cluster: MonitoredCluster, terminal: Terminal
) -> None:
    terminal.start(SCALER_TOP, monitored_cluster.monitor_address)
    terminal.wait_for(lambda s: "2 worker(s)" in s, "two workers")
    terminal.tmux("resize-window", "-t", "top", "-x", "40", "-y", "8")
    terminal.wait_for(lambda s: "terminal too small" in s, "the too-small message")
    terminal.tmux("resize-window", "-t", "top", "-x", "150", "-y", "30")
    terminal.wait_for(lambda s: "2 worker(s)" in s, "the dashboard again")
    terminal.keys("q")
    assert terminal.exit_status() == 0


def test_nothing_publishing_in_a_terminal(terminal: Terminal) -> None:
    from scaler.io.address import free_tcp_port

    address = f"tcp://127.0.0.1:{free_tcp_port()}"
    terminal.start(SCALER_TOP, address, "--timeout", "1")
    assert terminal.exit_status() == 1
    assert f"no status received from {address} within 1 s" in terminal.screen().replace("\n", "")
