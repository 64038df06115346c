"""Partitions between two real hosts: a worker in its own network namespace reaches the scheduler over a veth
link (not loopback), and the test takes that link down and up.

A short partition must lose and re-run nothing; one longer than ``worker_timeout_seconds`` re-runs the cut-off
worker's tasks elsewhere, and every task still ends in exactly one outcome with the right value.
(test_partitions.py does the same through a pausing TCP proxy on loopback, for client and worker links.)
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scaler import Client
from tests.chaos.cluster import cluster, executions, recorded
from tests.chaos.netns import veth_host
from tests.conftest import wait_for_workers, wait_until

pytestmark = pytest.mark.chaos

PARTITION_SECONDS = 5.0  # the fault itself: holding the link down this long is the test's subject, not a wait


def test_worker_partition_shorter_than_the_timeouts_loses_and_reruns_nothing(tmp_path: Path) -> None:
    tasks = 100
    with veth_host() as host, cluster(host.host_ip) as running:
        running.start_scheduler()
        host.popen(running.worker_command(heartbeat_interval_seconds=0.5))  # reaches the scheduler over the veth
        wait_for_workers(running.address, 1)
        with Client(address=running.address) as client:
            futures = [client.submit(recorded, str(tmp_path), i, 0.05) for i in range(tasks)]
            wait_until(lambda: len(executions(tmp_path)) >= 10, timeout=60)
            host.link_down()
            time.sleep(PARTITION_SECONDS)
            host.link_up()
            assert [future.result(timeout=120) for future in futures] == [i * i for i in range(tasks)]
    counts = executions(tmp_path)
    assert sorted(counts) == list(range(tasks))
    assert max(counts.values()) == 1, "a task ran twice across a partition shorter than every timeout"


def test_worker_partition_longer_than_the_timeout_reruns_its_tasks_elsewhere(tmp_path: Path) -> None:
    tasks = 200
    with veth_host() as host, cluster(host.host_ip, ("-wt", "3")) as running:
        running.start_scheduler()
        host.popen(running.worker_command(heartbeat_interval_seconds=0.5))  # the one to be cut off
        running.start_worker(heartbeat_interval_seconds=0.5)  # on this host, reachable throughout
        wait_for_workers(running.address, 2)
        with Client(address=running.address) as client:
            futures = [client.submit(recorded, str(tmp_path), i, 0.05) for i in range(tasks)]
            wait_until(lambda: len(executions(tmp_path)) >= 20, timeout=60)
            host.link_down()
            try:
                # Every task finishes while the link is still down: the cut-off worker's share ran elsewhere.
                assert [future.result(timeout=120) for future in futures] == [i * i for i in range(tasks)]
            finally:
                host.link_up()
            # Healed, the cut-off worker (now a zombie with stale tasks) rejoins; its late results change nothing
            # and the cluster keeps serving.
            assert client.map(abs, range(-50, 0)) == list(range(50, 0, -1))
            assert all(future.result() == i * i for i, future in enumerate(futures))
    counts = executions(tmp_path)
    assert sorted(counts) == list(range(tasks))
