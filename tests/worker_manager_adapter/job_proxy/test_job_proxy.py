"""The shared job-proxy core against real local job processes: results, errors, limits, timeouts, cancel."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from scaler import Client, SchedulerClusterCombo
from scaler.errors import JobFailedError, TaskTimeoutError
from scaler.worker_manager_adapter.job_proxy.proxy_worker import JobProxySettings, JobProxyWorker
from tests.worker_manager_adapter.job_proxy.local_backend import LocalProcessBackend


def slow_square(x: int) -> int:
    time.sleep(0.3)
    return x * x


def boom() -> None:
    raise KeyError("from the job")


def die() -> None:
    os._exit(7)


@pytest.fixture
def proxy() -> Iterator[tuple[str, JobProxyWorker, LocalProcessBackend]]:
    with SchedulerClusterCombo(n_workers=0, logging_level="WARNING") as cluster:
        backend = LocalProcessBackend()
        settings = JobProxySettings(
            scheduler_address=cluster.get_address(), manager_id="wm-jobs", worker_prefix="JOB",
            max_concurrent_jobs=3, job_timeout_seconds=5, poll_interval_seconds=0.05,
        )  # fmt: skip
        worker = JobProxyWorker(settings, backend)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            yield cluster.get_address(), worker, backend
        finally:
            worker.loop.stop()
            thread.join(15)


def test_map_runs_as_jobs_within_the_concurrency_limit(proxy: tuple[str, JobProxyWorker, LocalProcessBackend]) -> None:
    address, worker, backend = proxy
    with Client(address=address) as client:
        assert client.map(slow_square, range(12)) == [x * x for x in range(12)]
    assert backend.submitted == 12
    assert backend.max_seen_running <= 3 and worker.peak_running == 3


def test_errors_timeouts_and_dead_jobs(proxy: tuple[str, JobProxyWorker, LocalProcessBackend]) -> None:
    address, _, backend = proxy
    with Client(address=address) as client:
        with pytest.raises(KeyError, match="from the job"):
            client.submit(boom).result(timeout=60)
        with pytest.raises(JobFailedError, match="code 7"):
            client.submit(die).result(timeout=60)
        with pytest.raises(TaskTimeoutError, match="job timeout"):
            client.submit(time.sleep, 30).result(timeout=60)
        assert backend.cancelled  # the overlong job was cancelled, not left running
        running = client.submit(time.sleep, 30)
        time.sleep(1)
        assert running.cancel()
        assert client.submit(slow_square, 3).result(timeout=60) == 9
