"""Options that must take effect where they are used (not only be parsed): -it, -sri, and what workers get."""

from __future__ import annotations

import shlex

import zmq

from scaler.config import BaremetalNativeConfig, SchedulerConfig, load_config, resolve_config
from scaler.io.address import free_tcp_port
from scaler.scheduler.server import SchedulerServer, scheduler_options_from_config
from scaler.worker_manager_adapter.worker_launch import unit_worker_command, worker_options


def test_scheduler_io_threads_and_status_interval_take_effect() -> None:
    port, storage = free_tcp_port(), free_tcp_port()
    argv = [f"tcp://127.0.0.1:{port}", "-it", "3", "-sri", "0.25", "-osa", f"tcp://127.0.0.1:{storage}"]
    config = load_config(SchedulerConfig, argv, prog="scaler_scheduler", environ={})
    server = SchedulerServer(scheduler_options_from_config(config))
    try:
        assert server._context.get(zmq.IO_THREADS) == 3
        intervals = [timer[2] for timer in server.loop._timers if timer[3] == server._publish_status]  # type: ignore[attr-defined]
        assert intervals == [0.25]
    finally:
        server.close()


def test_worker_options_carry_io_threads_and_logging() -> None:
    config = resolve_config(
        BaremetalNativeConfig,
        cli={"scheduler_address": "tcp://127.0.0.1:1", "io_threads": "2", "logging_paths": ["/tmp/w.log"],
             "logging_level": "DEBUG"},
    )  # fmt: skip
    options = worker_options(config, config, scheduler_address="tcp://127.0.0.1:1", manager_id="m", prefix="NAT")
    assert (options.io_threads, options.logging_paths, options.logging_level) == (2, ("/tmp/w.log",), "DEBUG")


def test_unit_command_names_the_manager_and_passes_changed_options_on() -> None:
    config = resolve_config(
        BaremetalNativeConfig,
        cli={"scheduler_address": "tcp://10.0.0.1:8516", "io_threads": "2", "hard_processor_suspend": True,
             "per_worker_capabilities": "gpu,cpu=4", "logging_paths": ["/tmp/manager-only.log"]},
    )  # fmt: skip
    argv = shlex.split(unit_worker_command(config, "wm-ecs", 4, "ECS"))
    assert argv[:3] == ["scaler_worker_manager", "baremetal_native", "tcp://10.0.0.1:8516"]
    assert argv[argv.index("--worker-manager-id") + 1] == "wm-ecs"
    assert argv[argv.index("--io-threads") + 1] == "2"
    assert argv[argv.index("--per-worker-capabilities") + 1] == "gpu,cpu=4"
    assert "--hard-processor-suspend" in argv
    assert "--logging-paths" not in argv  # the manager's log files do not exist on the unit's machine
    # And the command parses back into the same worker options.
    from scaler.cli.worker_manager import load_worker_manager_config

    _entry, parsed = load_worker_manager_config(argv[1:], {})
    assert (parsed.worker_manager_id, parsed.io_threads, parsed.max_task_concurrency) == ("wm-ecs", 2, 4)


def test_manager_io_threads_take_effect() -> None:
    from scaler.worker_manager_adapter.baremetal_native.provisioner import NativeProvisioner
    from scaler.worker_manager_adapter.job_proxy.proxy_worker import JobProxySettings
    from scaler.worker_manager_adapter.runner import WorkerManagerRunner

    address = f"tcp://127.0.0.1:{free_tcp_port()}"
    config = resolve_config(BaremetalNativeConfig, cli={"scheduler_address": address, "io_threads": "2"})
    options = worker_options(config, config, scheduler_address=address, manager_id="m", prefix="NAT")
    runner = WorkerManagerRunner(address, "m", NativeProvisioner(options), 1, {}, 1.0, 0.0, io_threads=2)
    try:
        assert runner._context.get(zmq.IO_THREADS) == 2
    finally:
        runner._scheduler.close(0)
        runner._context.term()
    settings = JobProxySettings.from_config(
        config, manager_id="m", worker_prefix="P", max_concurrent_jobs=1, job_timeout_seconds=0,
        poll_interval_seconds=1,
    )  # fmt: skip
    assert settings.io_threads == 2
