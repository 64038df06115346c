"""The spec's command examples, run as written (ports filled in) against real processes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scaler import Client
from tests.cli.helpers import command, free_port_block, run, wait_for_port


def square(x: int) -> int:
    return x * x


def test_scheduler_and_fixed_workers_quick_start(tmp_path: Path) -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    with command("scaler_scheduler", address):
        wait_for_port(port)
        wait_for_port(port + 1)  # object storage started by the scheduler at port + 1
        wait_for_port(port + 2)  # monitor at port + 2
        with command("scaler_worker_manager", "baremetal_native", address, "--mode", "fixed",
                     "--max-task-concurrency", "2"):  # fmt: skip
            with Client(address=address) as client:
                assert client.submit(pow, 2, 10).result(timeout=60) == 1024
                assert client.map(square, range(10)) == [x * x for x in range(10)]


def test_scheduler_with_every_spec_flag_and_standalone_object_storage(tmp_path: Path) -> None:
    port = free_port_block(4)
    address, storage, monitor = (f"tcp://127.0.0.1:{port + i}" for i in (0, 3, 2))
    with command("scaler_object_storage_server", storage):
        wait_for_port(port + 3)
        with command("scaler_scheduler", address, "--object-storage-address", storage, "--monitor-address", monitor,
                     "--policy-engine-type", "simple", "--policy-content", "allocate=even_load; scaling=no",
                     "--logging-level", "INFO", "--protected", "-mt", "-1", "-ct", "30", "-wt", "30", "-ot", "60",
                     "-ls", "1", "-lbt", "2", "-el", "builtin", "-it", "1"):  # fmt: skip
            wait_for_port(port)
            with command("scaler_worker_manager", "baremetal_native", address, "--worker-manager-id", "wm-fixed",
                         "--mode", "fixed", "--max-task-concurrency", "1", "-dts", "300"):  # fmt: skip
                with Client(address=address) as client:
                    assert client.map(square, [3, 4]) == [9, 16]


def test_toml_configs_and_precedence(tmp_path: Path) -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    scheduler_toml = tmp_path / "scheduler.toml"
    scheduler_toml.write_text(
        textwrap.dedent(f"""
        [scheduler]
        scheduler_address = "{address}"
        monitor_address = "tcp://127.0.0.1:{port + 2}"
        policy_engine_type = "simple"
        policy_content = "allocate=even_load; scaling=no"
        logging_level = "INFO"
        """)
    )
    workers_toml = tmp_path / "workers.toml"
    workers_toml.write_text(
        textwrap.dedent(f"""
        [[worker_manager]]
        type = "baremetal_native"
        scheduler_address = "{address}"
        worker_manager_id = "wm-native"
        mode = "fixed"
        max_task_concurrency = 1
        per_worker_capabilities = "toml"
        """)
    )
    with command("scaler_scheduler", "--config", str(scheduler_toml), address):
        wait_for_port(port)
        # The flag overrides the TOML value: the worker must advertise "cli", not "toml".
        with command("scaler_worker_manager", "baremetal_native", "--config", str(workers_toml),
                     "--per-worker-capabilities", "cli"):  # fmt: skip
            with Client(address=address) as client:
                assert client.submit_verbose(square, (5,), {}, capabilities={"cli": 1}).result(timeout=60) == 25


def test_unified_launcher_runs_the_spec_toml(tmp_path: Path) -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(f"""
        [scheduler]
        scheduler_address = "{address}"
        monitor_address = "tcp://127.0.0.1:{port + 2}"
        policy_engine_type = "simple"
        policy_content = "allocate=even_load; scaling=vanilla"
        logging_level = "INFO"

        [[worker_manager]]
        type = "baremetal_native"
        scheduler_address = "{address}"
        worker_manager_id = "wm-native"
        mode = "dynamic"
        max_task_concurrency = 2
        event_loop = "builtin"
        io_threads = 2
        """)
    )
    with command("scaler", str(config)) as launcher:
        wait_for_port(port)
        with Client(address=address) as client:
            assert client.map(square, range(20)) == [x * x for x in range(20)]
    assert launcher.returncode == 0, launcher.stdout.read() if launcher.stdout else ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("scaler_scheduler", "tcp://127.0.0.1"), "tcp://HOST:PORT"),
        (("scaler_scheduler", "tcp://127.0.0.1:1", "--event-loop", "tokio"), "builtin"),
        (("scaler_scheduler", "tcp://127.0.0.1:1", "--client-timeout-seconds", "0"), "client-timeout-seconds"),
        (("scaler_scheduler", "tcp://127.0.0.1:1", "--no-such-flag"), "--no-such-flag"),
        (("scaler_worker_manager", "baremetal_native", "tcp://127.0.0.1:1", "--mode", "FIXED"), "dynamic"),
        (("scaler_worker_manager", "baremetal_native", "tcp://127.0.0.1:1", "-pwc", "gpu=x"), "gpu"),
        (("scaler_worker_manager", "baremetal_native", "tcp://127.0.0.1:1", "--preload", "no-colon"), "preload"),
        (("scaler_worker_manager", "no_such_type", "tcp://127.0.0.1:1"), "no_such_type"),
    ],
)
def test_bad_input_fails_fast_with_a_clear_message(args: tuple[str, ...], expected: str) -> None:
    result = run(*args, timeout=30)
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_bad_policy_fails_at_start_up() -> None:
    result = run("scaler_scheduler", "tcp://127.0.0.1:1", "--policy-content", "allocate=even_load", timeout=30)
    assert result.returncode != 0
    assert "scaling" in result.stderr


def test_launcher_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("[something_else]\nx = 1\n")
    result = run("scaler", str(empty))
    assert result.returncode != 0 and "something_else" in result.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[scheduler\n")
    result = run("scaler", str(broken))
    assert result.returncode != 0 and "broken.toml" in result.stderr and "Traceback" not in result.stderr
    unknown_key = tmp_path / "unknown.toml"
    unknown_key.write_text('[scheduler]\nscheduler_address = "tcp://127.0.0.1:1"\nno_such_key = 1\n')
    result = run("scaler", str(unknown_key))
    assert result.returncode != 0 and "no_such_key" in result.stderr


def test_help_is_complete() -> None:
    text = run("scaler_scheduler", "--help").stdout
    for flag in ("--object-storage-address", "--monitor-address", "--protected", "--max-number-of-tasks-waiting",
                 "--client-timeout-seconds", "--worker-timeout-seconds", "--object-retention-seconds",
                 "--load-balance-seconds", "--load-balance-trigger-times", "--event-loop", "--io-threads",
                 "--policy-engine-type", "--policy-content", "--logging-level", "--logging-paths",
                 "--logging-config-file", "--config"):  # fmt: skip
        assert flag in text, flag
    text = run("scaler_worker_manager", "baremetal_native", "--help").stdout
    for flag in ("--worker-scheduler-address", "--object-storage-address", "--per-worker-task-queue-size",
                 "--heartbeat-interval-seconds", "--task-timeout-seconds", "--death-timeout-seconds",
                 "--garbage-collect-interval-seconds", "--trim-memory-threshold-bytes", "--hard-processor-suspend",
                 "--io-threads", "--per-worker-capabilities", "--preload", "--worker-manager-id",
                 "--num-of-workers", "--max-task-concurrency", "--mode"):  # fmt: skip
        assert flag in text, flag
