"""Every peer's scheduler connection under faults, with real processes: a scheduler that dies, one that is
not there, and the wrong kind of peer at the address."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import psutil
import pytest
import zmq
from tests.cli.helpers import command, free_port_block, wait_for_port
from tests.conftest import alive, wait_until
from tests.worker_manager_adapter.job_proxy.local_backend import LocalProcessBackend

from scaler import Client
from scaler.errors import SchedulerUnavailableError
from scaler.io.address import free_tcp_port
from scaler.worker_manager_adapter.job_proxy.proxy_worker import JobProxySettings, JobProxyWorker


def agent_pid(_: int) -> int:
    time.sleep(0.1)
    return os.getppid()  # the worker agent: the processor's parent


def sleep_long() -> None:
    time.sleep(120)


def test_a_manager_whose_scheduler_dies_stops_its_workers_and_exits_non_zero() -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    with command("scaler_scheduler", address, "--policy-content", "allocate=even_load; scaling=vanilla") as scheduler:
        wait_for_port(port)
        with command("scaler_worker_manager", "baremetal_native", address, "--max-task-concurrency", "2",
                     "--heartbeat-interval-seconds", "0.5", "--death-timeout-seconds", "4") as manager:  # fmt: skip
            with Client(address=address) as client:
                agents = set(client.map(agent_pid, range(40)))
            assert agents and all(psutil.Process(pid).ppid() == manager.pid for pid in agents)
            scheduler.kill()  # SIGKILL: no goodbye to anyone
            scheduler.wait()
            assert manager.wait(60) != 0
            output = manager.stdout.read() if manager.stdout else ""
            assert f"no answer from the scheduler at {address} for 4s" in output
            assert "stopping its workers and exiting" in output
            wait_until(lambda: not any(alive(pid) for pid in agents), timeout=30)


def test_a_fixed_pool_whose_scheduler_dies_ends_with_its_workers_and_exits_non_zero() -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    with command("scaler_scheduler", address, "--logging-level", "WARNING") as scheduler:
        wait_for_port(port)
        with command("scaler_worker_manager", "baremetal_native", address, "--mode", "fixed", "-n", "2",
                     "--heartbeat-interval-seconds", "0.5", "--death-timeout-seconds", "3") as manager:  # fmt: skip
            with Client(address=address) as client:
                agents = set(client.map(agent_pid, range(40)))
            scheduler.kill()
            scheduler.wait()
            assert manager.wait(60) != 0
            output = manager.stdout.read() if manager.stdout else ""
            assert "every fixed worker has ended, the last one" in output
            wait_until(lambda: not any(alive(pid) for pid in agents), timeout=30)


def test_a_job_proxy_whose_scheduler_dies_cancels_its_jobs_and_exits_non_zero() -> None:
    port = free_port_block()
    address = f"tcp://127.0.0.1:{port}"
    with command("scaler_scheduler", address, "--logging-level", "WARNING") as scheduler:
        wait_for_port(port)
        backend = LocalProcessBackend()
        settings = JobProxySettings(
            scheduler_address=address, manager_id="wm-jobs", worker_prefix="JOB", max_concurrent_jobs=2,
            job_timeout_seconds=0, poll_interval_seconds=0.05, heartbeat_interval_seconds=0.5,
            death_timeout_seconds=4,
        )  # fmt: skip
        proxy = JobProxyWorker(settings, backend)
        exit_codes: list[int] = []
        thread = threading.Thread(target=lambda: exit_codes.append(proxy.run()), daemon=True)
        thread.start()
        try:
            with Client(address=address) as client:
                client.submit(sleep_long)
                wait_until(lambda: backend.submitted == 1, timeout=60)
            scheduler.kill()
            scheduler.wait()
            thread.join(60)
            assert exit_codes == [1]
            assert len(backend.cancelled) == 1  # the running job did not outlive the scheduler
        finally:
            proxy.loop.stop()
            thread.join(15)


def test_a_client_with_no_scheduler_says_it_is_waiting_and_honours_its_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    address = f"tcp://127.0.0.1:{free_tcp_port()}"
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    with pytest.raises(SchedulerUnavailableError, match=f"no scheduler answered at {address} within 8s"):
        Client(address=address, timeout_seconds=8)
    elapsed = time.monotonic() - started
    assert f"waiting for a scheduler at {address}" in caplog.text
    # Not a timing test: "broken" would be the old behaviour of giving up a whole join timeout (10 s) late.
    assert 7.5 <= elapsed < 8 + 5


def test_a_client_pointed_at_object_storage_or_the_monitor_is_told_what_it_found() -> None:
    port = free_port_block()
    with command("scaler_scheduler", f"tcp://127.0.0.1:{port}", "--logging-level", "WARNING"):
        wait_for_port(port)
        wait_for_port(port + 1)  # object storage
        wait_for_port(port + 2)  # the monitor's PUB socket
        with pytest.raises(SchedulerUnavailableError, match="is an object storage server, not a scheduler"):
            Client(address=f"tcp://127.0.0.1:{port + 1}", timeout_seconds=60)
        with pytest.raises(SchedulerUnavailableError, match="monitor address"):
            Client(address=f"tcp://127.0.0.1:{port + 2}", timeout_seconds=60)


def test_a_client_to_a_silent_zeromq_peer_gives_up_at_its_timeout_and_says_what_it_found() -> None:
    context: zmq.Context[Any] = zmq.Context()
    silent = context.socket(zmq.ROUTER)  # accepts the connection, answers nothing (a hung scheduler, say)
    port = silent.bind_to_random_port("tcp://127.0.0.1")
    try:
        started = time.monotonic()
        with pytest.raises(SchedulerUnavailableError, match="a ZeroMQ peer accepted the connection but does not"):
            Client(address=f"tcp://127.0.0.1:{port}", timeout_seconds=6)
        assert 5.5 <= time.monotonic() - started < 6 + 5  # "broken" is the old 10 s join on top of the timeout
    finally:
        silent.close(linger=0)
        context.term()


def test_a_client_behind_a_forwarder_waits_for_a_scheduler_that_starts_late(caplog: pytest.LogCaptureFixture) -> None:
    # A tunnel or proxy started before its scheduler accepts connections and closes them; the link used to call
    # that "not a scheduler" after 3 s and give up. Now it checks for a ZeroMQ greeting, says what it sees, and waits.
    from tests.chaos.tcp_proxy import TcpProxy

    caplog.set_level(logging.WARNING)
    port = free_port_block()
    proxy = TcpProxy(port)
    outcome: list[Any] = []

    def connect() -> None:
        try:
            client = Client(address=proxy.address, timeout_seconds=120)
            outcome.append(client)
        except Exception as error:  # reported by the assertion below
            outcome.append(error)

    thread = threading.Thread(target=connect, daemon=True)
    try:
        thread.start()
        wait_until(lambda: "tunnel or proxy" in caplog.text or bool(outcome), timeout=60)
        assert not outcome, f"the client gave up before its scheduler started: {outcome}"
        with command("scaler_scheduler", f"tcp://127.0.0.1:{port}", "--logging-level", "WARNING"):
            thread.join(120)
            assert outcome and isinstance(outcome[0], Client), outcome  # connected through the forwarder
            outcome[0].disconnect()
    finally:
        proxy.close()


def test_speaks_zeromq_tells_a_zeromq_socket_from_a_forwarder_and_a_silent_listener() -> None:
    import socket

    from tests.chaos.tcp_proxy import TcpProxy

    from scaler.io.scheduler_link import speaks_zeromq

    context: zmq.Context[Any] = zmq.Context()
    publisher = context.socket(zmq.PUB)
    pub_port = publisher.bind_to_random_port("tcp://127.0.0.1")
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (backlog) and never writes
    forwarder = TcpProxy(free_tcp_port())  # nothing listens behind it
    try:
        assert speaks_zeromq(f"tcp://127.0.0.1:{pub_port}")
        assert not speaks_zeromq(forwarder.address)
        assert not speaks_zeromq(f"tcp://127.0.0.1:{silent.getsockname()[1]}")
    finally:
        forwarder.close()
        silent.close()
        publisher.close(linger=0)
        context.term()
