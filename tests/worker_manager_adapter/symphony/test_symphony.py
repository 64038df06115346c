"""symphony against the stand-in soamapi: the documents' command and TOML, limits, errors, missing pieces.

The stand-in (stand_in/soamapi.py) runs each SOAM task in a service process of its own running scaler's real
Symphony service module, and records how many ran at once, so the limit is checked where the work happens.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scaler import Client
from scaler.errors import JobFailedError, TaskTimeoutError
from tests.cli.helpers import command, free_port_block, run, wait_for_port

pytestmark = pytest.mark.cloud

STAND_IN = Path(__file__).parent / "stand_in"
FAST = ("--heartbeat-interval-seconds", "0.5", "--logging-level", "WARNING")
SCHEDULER_POLICY = ("--policy-content", "allocate=even_load; scaling=vanilla")


def square(x: int) -> int:
    return x * x


def raise_key_error() -> None:
    raise KeyError("raised in the SOAM task")


def kill_service_process() -> None:
    os._exit(5)


def stand_in_env(state: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([str(STAND_IN), os.environ.get("PYTHONPATH", "")]),
            "SOAMAPI_STAND_IN_STATE": str(state)}  # fmt: skip


def read_state(state: Path) -> dict[str, int]:
    data: dict[str, int] = json.loads(state.read_text())
    return data


@contextmanager
def symphony_stack(state: Path, *manager_flags: str) -> Iterator[str]:
    """A scheduler and a symphony manager over the stand-in soamapi; yields the scheduler address."""
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    with command("scaler_scheduler", address, *SCHEDULER_POLICY, "--logging-level", "WARNING"):
        wait_for_port(port)
        with command("scaler_worker_manager", "symphony", address, "--worker-manager-id", "wm-symphony",
                     "--service-name", "ScalerService", *manager_flags, *FAST, env=stand_in_env(state)):  # fmt: skip
            yield address


def test_run_command_maps_within_the_limit_and_reports_failures(tmp_path: Path) -> None:
    # A task timeout that means "broken": each SOAM task starts a service process, which takes seconds on a
    # loaded machine. The timeout path has its own test below.
    state = tmp_path / "soam.json"
    with symphony_stack(state, "--max-task-concurrency", "3", "--task-timeout-seconds", "600") as address:
        with Client(address=address) as client:
            assert client.map(square, range(50)) == [x * x for x in range(50)]
            observed = read_state(state)
            assert observed["submitted"] == 50
            assert 1 <= observed["peak_running"] <= 3  # the limit held at "Symphony"
            with pytest.raises(KeyError, match="raised in the SOAM task"):
                client.submit(raise_key_error).result(timeout=60)
            with pytest.raises(JobFailedError, match="Symphony task failed: service process exited with code 5"):
                client.submit(kill_service_process).result(timeout=60)
            assert client.submit(square, 7).result(timeout=60) == 49


def test_a_task_past_its_timeout_fails(tmp_path: Path) -> None:
    # 3 s against a 60 s sleep: the timeout fires however slow the machine is.
    with symphony_stack(tmp_path / "soam.json", "--task-timeout-seconds", "3") as address:
        with Client(address=address) as client:
            with pytest.raises(TaskTimeoutError, match="job timeout of 3s"):
                client.submit(time.sleep, 60).result(timeout=120)


def test_toml_example_from_the_documents(tmp_path: Path) -> None:
    port = free_port_block()
    state = tmp_path / "soam.json"
    config = tmp_path / "config.toml"
    config.write_text(f"""
[scheduler]
scheduler_address = "tcp://127.0.0.1:{port}"
policy_content = "allocate=even_load; scaling=vanilla"
logging_level = "WARNING"

[[worker_manager]]
type = "symphony"
scheduler_address = "tcp://127.0.0.1:{port}"
worker_manager_id = "wm-symphony"
service_name = "ScalerService"
max_task_concurrency = 4
heartbeat_interval_seconds = 0.5
""")
    with command("scaler", str(config), env=stand_in_env(state)):
        wait_for_port(port)
        with Client(address=f"tcp://127.0.0.1:{port}") as client:
            assert client.map(square, range(50)) == [x * x for x in range(50)]
    observed = read_state(state)
    assert observed["submitted"] == 50 and observed["peak_running"] <= 4
    assert observed["applications"] == ["ScalerService"]  # type: ignore[comparison-overlap]


def test_missing_soamapi_is_one_line_and_missing_service_name_names_the_flag() -> None:
    address = f"tcp://127.0.0.1:{free_port_block()}"
    missing_module = run("scaler_worker_manager", "symphony", address, "--service-name", "ScalerService")
    assert missing_module.returncode == 1
    assert len(missing_module.stderr.strip().splitlines()) == 1
    assert "soamapi" in missing_module.stderr and "ships with Symphony" in missing_module.stderr
    missing_flag = run("scaler_worker_manager", "symphony", address)
    assert missing_flag.returncode == 2
    assert "service_name" in missing_flag.stderr.replace("-", "_")
