"""Churn: workers (agents or processors) are SIGKILLed while a map runs, and replacements join.

Every result must come back correct, none lost or duplicated; a poison task that kills every processor it
touches fails after the retry cap instead of taking the cluster down with it.
"""

from __future__ import annotations

import ctypes
import os
import random
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import psutil
import pytest

from scaler import Client
from scaler.errors import ProcessorDiedError
from tests.chaos.cluster import Cluster, cluster, executions, kill, recorded
from tests.conftest import wait_for_workers, wait_until

pytestmark = pytest.mark.chaos

WORKERS = 3


def segfault() -> None:
    ctypes.string_at(0)


def _kill_one(running: Cluster, rng: random.Random, serial: int) -> str:
    """SIGKILL an agent (even kills) or one of its processors (odd kills); keep WORKERS agents alive."""
    victims = running.live_workers()
    victim = rng.choice(victims)
    if serial % 2 == 0:
        kill(victim)
        running.start_worker(heartbeat_interval_seconds=0.5)
        return "agent"
    processors = psutil.Process(victim.pid).children()
    if not processors:
        return "none"
    os.kill(processors[-1].pid, signal.SIGKILL)
    return "processor"


def _progress(directory: Path, futures: Sequence[Future[Any]], executed: int) -> Callable[[], bool]:
    return lambda: len(executions(directory)) >= executed or all(f.done() for f in futures)


def test_churn_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    tasks, kills = 1500, 8
    rng = random.Random(7)
    with cluster(scheduler_flags=("-wt", "4")) as running:
        running.start_scheduler()
        for _ in range(WORKERS):
            running.start_worker(heartbeat_interval_seconds=0.5)
        wait_for_workers(running.address, WORKERS)
        with Client(address=running.address) as client:
            futures = [client.submit(recorded, str(tmp_path), i, 0.01) for i in range(tasks)]
            done_kinds = []
            for serial in range(kills):
                wait_until(_progress(tmp_path, futures, len(executions(tmp_path)) + 60), 120)
                if all(f.done() for f in futures):
                    break
                done_kinds.append(_kill_one(running, rng, serial))
            results = [future.result(timeout=300) for future in futures]
    assert results == [i * i for i in range(tasks)]
    assert "agent" in done_kinds and "processor" in done_kinds, done_kinds
    counts = executions(tmp_path)
    assert sorted(counts) == list(range(tasks)), "a task was lost"


def test_poison_task_fails_after_the_retry_cap_and_the_cluster_survives() -> None:
    with cluster() as running:
        running.start_scheduler()
        for _ in range(2):
            running.start_worker(heartbeat_interval_seconds=0.5)
        wait_for_workers(running.address, 2)
        with Client(address=running.address) as client:
            poison = client.submit(segfault)
            innocent = client.map(abs, range(-100, 0))
            with pytest.raises(ProcessorDiedError, match="SIGSEGV"):
                poison.result(timeout=120)
            assert innocent == list(range(100, 0, -1))
            assert client.submit(abs, -7).result(timeout=60) == 7
            assert len(running.live_workers()) == 2
