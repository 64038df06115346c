"""Secure by default: quick-start clusters refuse other users; an exposed scheduler without credentials warns."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from scaler import Client, SchedulerClusterCombo
from scaler.io.address import Address
from scaler.security.exposure import is_loopback, warn_if_exposed
from tests.cli.helpers import command, free_port_block, wait_for_port
from tests.conftest import wait_until

_OTHER_USER = """
import sys
from scaler import AuthenticationError, Client
try:
    Client(sys.argv[1], timeout_seconds=30)
except AuthenticationError as error:
    print("refused:", error)
"""


def _as_another_process(address: str, runtime_dir: Path) -> str:
    """A client in a process that has neither the combo's memory nor this user's runtime directory."""
    environment = {k: v for k, v in os.environ.items() if k != "SCALER_CREDENTIALS"}
    environment["SCALER_RUNTIME_DIR"] = str(runtime_dir)
    result = subprocess.run(
        [sys.executable, "-c", _OTHER_USER, address], env=environment, capture_output=True, text=True, timeout=120
    )
    return result.stdout + result.stderr


def test_a_combo_without_credentials_refuses_other_processes(tmp_path: Path) -> None:
    with SchedulerClusterCombo(n_workers=1, logging_level="WARNING") as combo:
        with Client(combo.get_address()) as client:  # this process: the owner, with no setup
            assert client.submit(pow, 2, 8).result(timeout=60) == 256
        assert "refused: the scheduler at" in _as_another_process(combo.get_address(), tmp_path)
    assert "SCALER_CREDENTIALS" not in os.environ  # restored at shutdown


def test_the_launcher_generates_keys_publishes_them_privately_and_removes_them(tmp_path: Path) -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    config = tmp_path / "cluster.toml"
    config.write_text(
        f'[scheduler]\nscheduler_address = "{address}"\n\n'
        f'[[worker_manager]]\ntype = "baremetal_native"\nscheduler_address = "{address}"\n'
        'max_task_concurrency = 1\nmode = "fixed"\n'
    )
    runtime = tmp_path / "runtime"
    environment = {"SCALER_RUNTIME_DIR": str(runtime)}
    with command("scaler", str(config), env=environment) as launcher:
        wait_for_port(port)
        published = runtime / f"tcp___127.0.0.1_{port}.toml"
        wait_until(published.exists, timeout=30)
        assert stat.S_IMODE(published.stat().st_mode) == 0o600
        assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
        os.environ["SCALER_RUNTIME_DIR"] = str(runtime)
        try:
            with Client(address) as client:  # same user: finds the published owner credentials
                assert client.submit(pow, 3, 3).result(timeout=60) == 27
        finally:
            del os.environ["SCALER_RUNTIME_DIR"]
        assert "refused: the scheduler at" in _as_another_process(address, tmp_path / "elsewhere")
        assert launcher.poll() is None
    assert not published.exists()


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("tcp://127.0.0.1:1", True),
        ("tcp://localhost:1", True),
        ("tcp://[::1]:1", True),
        ("ipc:///tmp/x", True),
        ("tcp://0.0.0.0:1", False),
        ("tcp://10.1.2.3:1", False),
        ("tcp://*:1", False),
    ],
)
def test_only_loopback_addresses_count_as_private(address: str, loopback: bool) -> None:
    assert is_loopback(Address.parse(address)) is loopback


def test_an_exposed_server_without_credentials_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scaler.security"):
        warn_if_exposed(Address.parse("tcp://127.0.0.1:1"), "the scheduler")
        assert not caplog.records
        warn_if_exposed(Address.parse("tcp://0.0.0.0:1"), "the scheduler")
    assert "SECURITY" in caplog.text and "no credentials" in caplog.text
