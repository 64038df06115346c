"""A process that may no longer fork (it has threads) starts its combos through a fork server: a fresh interpreter,
kept for later combos. Its children must behave as fresh interpreters started by this process would: this process's
environment, working directory and standard streams at the time, death with this process, reaped at shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import alive, wait_until

from scaler.cluster.children import FORK_ENV

# Run in a child interpreter with a thread: the fork server is then a fresh interpreter (this test process may
# already have one, of either kind, from earlier tests).
SCRIPT = textwrap.dedent(
    """
    import json, os, sys, threading
    import psutil
    from scaler import Client, SchedulerClusterCombo

    threading.Thread(target=threading.Event().wait, daemon=True).start()  # this process may no longer fork

    def seen():
        import os
        return os.getcwd(), os.environ.get("SCALER_TEST_MARK", "")

    def nested(n):
        from scaler import Client
        with Client() as inner:
            return inner.submit(pow, n, 2).result()

    def report(**values):
        print(json.dumps(values), flush=True)

    log = os.path.join(sys.argv[1], "stderr.log")
    previous = None
    for round, directory in enumerate([os.getcwd(), os.getcwd(), sys.argv[1]]):
        os.chdir(directory)
        os.environ["SCALER_TEST_MARK"] = f"round {round}"
        if round == 1:  # this process's stderr goes elsewhere now: so does that of the combo's processes
            saved = os.dup(2)
            os.dup2(os.open(log, os.O_WRONLY | os.O_CREAT), 2)
        cluster = SchedulerClusterCombo(n_workers=1, logging_level="INFO")
        with Client(cluster.get_address()) as client:
            cwd, mark = client.submit(seen).result(timeout=60)
            assert client.submit(nested, 5).result(timeout=60) == 25
        if round == 1:
            os.dup2(saved, 2)
        pids = [cluster.scheduler_pid, *cluster.worker_pids]
        parents = {psutil.Process(pid).ppid() for pid in pids}
        report(round=round, cwd=cwd, mark=mark, pids=pids, parents=sorted(parents), how=cluster._starter.how)
        if previous is not None:  # it still runs, whichever server started this one
            with Client(previous.get_address()) as client:
                assert client.submit(pow, 2, 5).result(timeout=60) == 32
            old = [previous.scheduler_pid, *previous.worker_pids]
            previous.shutdown()
            report(round=round - 1, after_shutdown=[psutil.pid_exists(pid) for pid in old])
        if round == (0 if sys.argv[2:] == ["hold"] else 2):
            report(holding=True)
            threading.Event().wait()  # the test kills this process now
        previous = cluster
    """
)


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    other = tmp_path / "elsewhere"
    other.mkdir(exist_ok=True)
    environment = {**os.environ, FORK_ENV: "1"}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(other), *extra], stdout=subprocess.PIPE, text=True, env=environment
    )


def _reports(process: subprocess.Popen[str], until: str) -> list[dict[str, Any]]:
    assert process.stdout is not None
    reports = []
    for line in process.stdout:  # a script that fails ends its output: the loop ends, and the test fails below
        reports.append(json.loads(line))
        if until in reports[-1]:
            return reports
    raise AssertionError(f"the script ended before reporting {until!r}: {reports}")


def _wait_gone(pids: list[int]) -> None:
    wait_until(lambda: not any(alive(pid) for pid in pids), timeout=60)  # each outlived its parent if this fails


def test_a_process_with_threads_starts_its_combos_through_one_fork_server(tmp_path: Path) -> None:
    process = _start(tmp_path)
    try:
        reports = _reports(process, "holding")
    finally:
        process.kill()
        process.wait()
    rounds = [r for r in reports if "how" in r]
    shutdowns = [r for r in reports if "after_shutdown" in r]
    assert all("a fresh interpreter" in r["how"] for r in rounds), rounds
    servers = [r["parents"] for r in rounds]
    assert all(len(parents) == 1 and parents != [process.pid] for parents in servers)  # the server's children
    assert servers[0] == servers[1], "the second combo did not reuse the server"
    # The working directory changed: a fresh interpreter's sys.path changes with it. The first server stays for the
    # combo it started, which still ran (the script checked it), and was reaped at its shutdown.
    assert servers[2] != servers[0]
    assert [r["mark"] for r in rounds] == ["round 0", "round 1", "round 2"]  # the environment at each start
    assert rounds[2]["cwd"] == str(tmp_path / "elsewhere") and rounds[0]["cwd"] == os.getcwd()
    assert all(not any(r["after_shutdown"]) for r in shutdowns), "a child was not reaped at shutdown"
    _wait_gone(rounds[2]["pids"] + servers[2])  # killed with this process
    logged = (tmp_path / "elsewhere" / "stderr.log").read_text()
    assert "scheduler listening" in logged and f"pid {rounds[1]['pids'][0]})" in logged, logged


def test_the_combo_dies_with_its_fork_server_and_the_next_combo_gets_a_new_one(tmp_path: Path) -> None:
    process = _start(tmp_path, "hold")
    try:
        (first, *_) = _reports(process, "how")
        server = first["parents"][0]
        os.kill(server, signal.SIGKILL)
        _wait_gone(first["pids"])
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("threads", [False, True])
def test_a_fork_server_is_made_by_fork_only_in_a_process_that_may_fork(threads: bool) -> None:
    code = textwrap.dedent(
        f"""
        import threading
        from scaler.cluster.children import ChildStarter
        if {threads}:
            threading.Thread(target=threading.Event().wait, daemon=True).start()
        print(ChildStarter().how)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    expected = "a fresh interpreter" if threads else "a fork of this process"
    assert result.stdout.strip() == f"by a fork server, {expected}"
