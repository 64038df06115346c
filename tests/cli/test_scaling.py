"""Scaling end to end: the scheduler's policy drives real worker managers, which start and stop real workers."""

from __future__ import annotations

import os
import time

import psutil

from scaler import Client
from tests.cli.helpers import command, free_port_block, wait_for_port
from tests.conftest import wait_until


def agent_pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getppid()  # the worker agent: the processor's parent


def manager_pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return psutil.Process(os.getppid()).ppid()  # processor -> agent -> worker manager


def children(pid: int) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(pid).children() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return []


def manager_of(agent_pid: int) -> int:
    return psutil.Process(agent_pid).ppid()


FAST = ("--heartbeat-interval-seconds", "0.5", "--scale-down-cooldown-seconds", "1", "--logging-level", "WARNING")


def test_vanilla_scaling_starts_workers_under_load_and_stops_them_when_idle() -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    with command("scaler_scheduler", address, "--policy-content", "allocate=even_load; scaling=vanilla"):
        wait_for_port(port)
        with command("scaler_worker_manager", "baremetal_native", address, "--max-task-concurrency", "3",
                     *FAST) as manager:  # fmt: skip
            time.sleep(1.5)
            assert children(manager.pid) == []  # dynamic mode with no work: no workers
            with Client(address=address) as client:
                agents = set(client.map(agent_pid_after, [0.2] * 80))
            assert 2 <= len(agents) <= 3  # scaled up, capped by --max-task-concurrency
            wait_until(lambda: children(manager.pid) == [], timeout=30)  # idle: scaled back to zero


def test_waterfall_fills_in_priority_order_and_drains_in_reverse() -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    rules = "1,wm-first,1\n2,wm-second,2"  # priority, manager id, max task concurrency
    with command("scaler_scheduler", address, "--policy-engine-type", "waterfall_v1", "--policy-content", rules):
        wait_for_port(port)
        with command("scaler_worker_manager", "baremetal_native", address, "--worker-manager-id", "wm-first",
                     "--max-task-concurrency", "4", *FAST) as first, \
             command("scaler_worker_manager", "baremetal_native", address, "--worker-manager-id", "wm-second",
                     "--max-task-concurrency", "4", *FAST) as second:  # fmt: skip
            # Both tiers must be registered before demand appears: a tier that is alone online is (rightly)
            # asked for the workers. Their heartbeats come every 0.5 s; with no tasks neither starts any.
            time.sleep(2)
            with Client(address=address) as client:
                few = client.submit_many(agent_pid_after, [(1.0,)] * 3)
                wait_until(lambda: len(children(first.pid)) == 1, timeout=30)
                assert children(second.pid) == []  # a small demand is served by the first tier only
                [future.result(timeout=60) for future in few]
                used = {f.result(timeout=120) for f in client.submit_many(manager_pid_after, [(0.5,)] * 60)}
                assert used == {first.pid, second.pid}  # the burst spilled over to the second tier
            # Idle: the second tier (higher number) drains first; the first keeps its worker until then.
            wait_until(lambda: children(second.pid) == [], timeout=30)
            wait_until(lambda: children(first.pid) == [], timeout=30)


def test_capability_routing_sends_gpu_tasks_only_to_the_gpu_worker() -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    with command("scaler_scheduler", address, "--policy-content", "allocate=capability; scaling=no"):
        wait_for_port(port)
        with command("scaler_worker_manager", "baremetal_native", address, "--mode", "fixed", "-n", "1",
                     "--worker-manager-id", "cpu-only", "--logging-level", "WARNING") as cpu, \
             command("scaler_worker_manager", "baremetal_native", address, "--mode", "fixed", "-n", "1",
                     "--worker-manager-id", "with-gpu", "--per-worker-capabilities", "gpu,linux",
                     "--logging-level", "WARNING") as gpu:  # fmt: skip
            with Client(address=address) as client:
                gpu_agents = {
                    f.result(timeout=60)
                    for f in [client.submit_verbose(agent_pid_after, (0.05,), {}, capabilities={"gpu": 1})
                              for _ in range(20)]
                }  # fmt: skip
                assert {manager_of(pid) for pid in gpu_agents} == {gpu.pid}
                anywhere = set(client.map(agent_pid_after, [0.1] * 20))
                assert {manager_of(pid) for pid in anywhere} <= {gpu.pid, cpu.pid}
