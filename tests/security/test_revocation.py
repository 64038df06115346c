"""A worker whose key is revoked while it runs tasks is disconnected, and its tasks run again elsewhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scaler import Client
from scaler.cli import keys
from scaler.worker.agent.options import WorkerOptions
from tests.cli.helpers import command, free_port_block, stop, wait_for_port
from tests.conftest import wait_until
from tests.security.conftest import make_keys


@contextmanager
def worker(address: str, credentials: Path) -> Iterator[subprocess.Popen[bytes]]:
    options = WorkerOptions(scheduler_address=address, heartbeat_interval_seconds=0.5, logging_level="WARNING")
    environment = {**os.environ, "SCALER_CREDENTIALS": str(credentials)}  # never on the command line
    process = subprocess.Popen(
        [sys.executable, "-m", "scaler.worker.agent", options.to_json()], env=environment, stdin=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_a_revoked_worker_is_disconnected_and_its_tasks_rerun_elsewhere(tmp_path: Path) -> None:
    make_keys(tmp_path, {"alice": "client", "w1": "worker", "w2": "worker"})
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    gate, started = tmp_path / "gate", tmp_path / "started"
    started.mkdir()

    def gated(index: int) -> int:
        (started / f"{index}-{os.getppid()}").write_text("")  # the processor's parent: the worker agent
        while not gate.exists():
            time.sleep(0.01)
        return os.getppid()

    with command("scaler_scheduler", address, "--credentials", str(tmp_path / "scheduler.toml")) as scheduler:
        wait_for_port(port)
        with worker(address, tmp_path / "w1.toml") as first:
            with Client(address, credentials=tmp_path / "alice.toml") as client:
                futures = [client.submit(gated, index) for index in range(3)]
                wait_until(lambda: any(started.iterdir()), timeout=60)
                assert {name.split("-")[1] for name in os.listdir(started)} == {str(first.pid)}
                with worker(address, tmp_path / "w2.toml") as second:
                    keys.main(["revoke", str(tmp_path), "--name", "w1"])
                    scheduler.send_signal(signal.SIGHUP)  # reload now (it would within a few seconds anyway)
                    first.wait(60)  # told to shut down: its credentials are gone
                    gate.write_text("open")
                    results = [future.result(timeout=60) for future in futures]
                    assert results == [second.pid] * 3
        assert stop(scheduler) == 0
        assert scheduler.stdout is not None
        log = scheduler.stdout.read()
    assert "credentials were revoked" in log
    secret = (tmp_path / "w2.toml").read_text().split("secret_key = ")[1][:42]
    assert secret not in log
