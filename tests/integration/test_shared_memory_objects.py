"""Large objects through shared memory between real processes on one host (see scaler.object_storage.shared_memory).

Each cluster here is told its own segment directory (``SCALER_SHARED_MEMORY_DIR``, inherited by every process it
starts), so that what a test counts there is its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy
import pytest
import zmq
from tests.conftest import wait_for_workers, wait_until

from scaler import Client, SchedulerClusterCombo
from scaler.errors import ProcessorDiedError
from scaler.io.object_client import ObjectStorageConnection
from scaler.object_storage import shared_memory as shm
from scaler.serialization import DEFAULT_SERIALIZER, decode_object_frames

MB = 1 << 20


def origin(value: Any) -> str:
    """Where an array's memory comes from: "mmap" (a view on a mapped segment) or "copy"."""
    import mmap

    base = value
    for _ in range(10):
        if isinstance(base, mmap.mmap):
            return "mmap"
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
        if base is None:
            break
    return "copy"


def inspect_array(array: Any) -> tuple[str, bool, int]:
    total = int(array.sum())
    array[:] = 0  # the worker's writes stay in its copy-on-write pages
    return origin(array), bool(array.flags.writeable), total


def make_bytes(size: int) -> bytes:
    return bytes(range(256)) * (size // 256)


def kill_own_processor(array: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def segments(folder: str) -> set[str]:
    return {name for name in os.listdir(folder) if shm.is_segment_name(name)}


@pytest.fixture
def segment_folder() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="scaler-test-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    saved = {name: os.environ.get(name) for name in (shm.DIRECTORY_ENV, shm.SWITCH_ENV)}
    os.environ[shm.DIRECTORY_ENV] = folder
    os.environ.pop(shm.SWITCH_ENV, None)
    try:
        yield folder
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(folder, ignore_errors=True)


def _cluster(**options: Any) -> SchedulerClusterCombo:
    combo = SchedulerClusterCombo(n_workers=1, logging_level="WARNING", **options)
    wait_for_workers(combo.get_address(), 1)
    return combo


def test_numpy_arguments_are_writable_views_on_shared_memory_and_results_come_back(segment_folder: str) -> None:
    with _cluster() as cluster, Client(address=cluster.get_address()) as client:
        wait_until(lambda: client._agent.uploads.segments is not None, timeout=30)  # storage confirmed the probe
        array = numpy.arange(4 * MB, dtype=numpy.uint8)
        assert client.submit(inspect_array, array).result(timeout=60) == ("mmap", True, int(array.sum()))
        assert array[1] == 1  # nothing came back into the client's array
        assert len(segments(segment_folder)) >= 1
        # A large result (written by the processor into its own segment, mapped by the client) arrives intact,
        # and so does a second one (the processor's segment is reused once the client's mapping is gone).
        for _ in range(2):
            assert client.submit(make_bytes, 3 * MB).result(timeout=60) == make_bytes(3 * MB)
        reference = client.send_object(array, name="array")
        # A reader elsewhere (TCP, no shared memory) gets the object from storage's mapping.
        context: zmq.Context[Any] = zmq.Context()
        storage = ObjectStorageConnection(context, cluster.object_storage_address)
        try:
            frames = [frame.buffer for frame in storage.get(reference.object_id, timeout=60)]
            assert numpy.array_equal(decode_object_frames(frames, DEFAULT_SERIALIZER), array)
        finally:
            storage.close()
            context.term()


def test_switched_off_every_object_travels_over_tcp(segment_folder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(shm.SWITCH_ENV, "0")
    with _cluster() as cluster, Client(address=cluster.get_address()) as client:
        array = numpy.arange(4 * MB, dtype=numpy.uint8)
        assert client.submit(inspect_array, array).result(timeout=60) == ("copy", True, int(array.sum()))
        assert client.submit(make_bytes, 3 * MB).result(timeout=60) == make_bytes(3 * MB)
        assert client._agent.uploads.segments is None
    assert segments(segment_folder) == set()


_KILLED_CLIENT = textwrap.dedent(
    """
    import os, sys, time
    import numpy
    from scaler import Client

    def hold(array, marker):
        open(marker, "w").close()
        time.sleep(300)

    def big_result(array):
        return bytes(array.nbytes)

    client = Client(address=sys.argv[1])
    while client._agent.uploads.segments is None:
        time.sleep(0.05)
    array = numpy.ones(3 << 20, dtype=numpy.uint8)
    reference = client.send_object(array)
    assert len(client.submit(big_result, reference).result(timeout=60)) == array.nbytes
    client.submit(hold, reference, sys.argv[2])
    time.sleep(300)  # killed here, mid-task
    """
)


def test_a_killed_client_and_a_killed_processor_leak_no_segment(segment_folder: str, tmp_path: Path) -> None:
    with _cluster(client_timeout_seconds=3, object_retention_seconds=1) as cluster:
        # A processor killed while it maps an argument (and holds its pool of result segments).
        with Client(address=cluster.get_address()) as client:
            wait_until(lambda: client._agent.uploads.segments is not None, timeout=30)
            array = numpy.ones(2 * MB, dtype=numpy.uint8)
            assert len(client.submit(make_bytes, 2 * MB).result(timeout=60)) == 2 * MB
            with pytest.raises(ProcessorDiedError):
                client.submit(kill_own_processor, array).result(timeout=60)
        # A client killed while its object is in storage and mapped by a running task.
        marker = tmp_path / "task-started"
        script = tmp_path / "client.py"
        script.write_text(_KILLED_CLIENT)
        process = subprocess.Popen([sys.executable, str(script), cluster.get_address(), str(marker)])
        try:
            wait_until(lambda: marker.exists() or process.poll() is not None, timeout=120)
            assert process.poll() is None, "the client script failed"
            assert segments(segment_folder)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        # Its task is cancelled (the processor killed), its objects deleted, and with nobody holding them storage
        # removes the segments: within seconds, well before its sweeper's next round (a minute; unit-tested).
        wait_until(lambda: not segments(segment_folder), timeout=50, interval=0.2)
