"""A combo forks its processes when this process is single-threaded and small; they must then behave as the fresh
interpreters started otherwise: nothing of the parent (descriptors, pending output, atexit handlers) leaks in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scaler.cluster.children import FORK_ENV

# Run in a child interpreter: this test process has threads (pytest's, earlier clients'), so it would not fork.
SCRIPT = textwrap.dedent(
    """
    import atexit, os, select, sys
    import psutil
    from scaler import Client, SchedulerClusterCombo
    from scaler.cluster.children import fork_refusal

    marker = sys.argv[1]
    atexit.register(lambda: open(marker, "a").write("atexit\\n"))
    read_end, write_end = os.pipe()  # the children must not hold the write end: EOF below proves it
    sys.stdout.write("pending-output|")  # left in this process's buffer (stdout is a pipe)
    print("refusal:", fork_refusal(), file=sys.stderr)
    cluster = SchedulerClusterCombo(n_workers=1)
    os.close(write_end)
    readable, _, _ = select.select([read_end], [], [], 20)  # EOF at once unless a child holds the write end
    assert readable and os.read(read_end, 1) == b"", "a child of the combo holds this process's pipe"
    def seen_by_tasks():
        import sys
        return sys.argv[0], sorted(name for name in vars(sys.modules["__main__"]) if not name.startswith("__"))

    def nested(n):
        from scaler import Client
        with Client() as inner:  # a task's own client: it must use its worker's credentials, as its agent does
            return inner.submit(pow, n, 2).result()

    with Client(cluster.get_address()) as client:
        assert client.submit(pow, 3, 4).result() == 81
        assert client.submit(nested, 5).result() == 25
        # Forked or not, a processor is what `python -c` gives: an empty __main__, not its agent's or this one's.
        assert client.submit(seen_by_tasks).result() == ("-c", []), client.submit(seen_by_tasks).result()
    commands = [" ".join(psutil.Process(pid).cmdline()) for pid in [cluster.scheduler_pid, *cluster.worker_pids]]
    print("commands:", commands, file=sys.stderr)
    processes = list(cluster._processes)
    cluster.shutdown()
    print("exit codes:", [p.poll() for p in processes], file=sys.stderr)
    """
)


def _run(tmp_path: Path, fork: bool) -> tuple[str, str]:
    marker = tmp_path / "marker"
    environment = {**os.environ, FORK_ENV: "1" if fork else "0"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(marker)], capture_output=True, text=True, env=environment, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert marker.read_text() == "atexit\n", "the parent's atexit handler ran in a child (or not in the parent)"
    return result.stdout, result.stderr


@pytest.mark.parametrize("fork", [True, False])
def test_the_combo_starts_its_processes_by_fork_or_afresh_and_they_inherit_nothing(tmp_path: Path, fork: bool) -> None:
    stdout, stderr = _run(tmp_path, fork)
    assert stdout == "pending-output|", "a forked child wrote this process's pending output again"
    if fork:
        assert "refusal: None" in stderr
        assert "-m scaler.scheduler" not in stderr  # forked: same command line as the parent
    else:
        assert "refusal: SCALER_COMBO_FORK=0" in stderr
        assert "-m scaler.scheduler" in stderr and "-m scaler.worker.agent" in stderr
    assert "exit codes: [None" not in stderr  # every child was reaped at shutdown


def test_a_process_with_threads_or_told_not_to_starts_fresh_interpreters() -> None:
    code = textwrap.dedent(
        """
        import threading, time
        from scaler.cluster.children import fork_refusal
        print(fork_refusal())
        event = threading.Event()
        thread = threading.Thread(target=event.wait)
        thread.start()
        print(fork_refusal())
        event.set()
        thread.join()
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.splitlines() == ["None", "this process has 2 threads"]
