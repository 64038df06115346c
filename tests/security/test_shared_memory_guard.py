"""A read through shared memory passes the same checks as a read over TCP, and works on a secured cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scaler import Client, SchedulerClusterCombo
from scaler.ids import random_object_id
from scaler.protocol import messages as m
from scaler.security.credentials import new_server_credentials
from scaler.security.roles import StorageGuard
from tests.conftest import wait_until
from tests.security.conftest import make_keys
from tests.security.test_guards import OTHER_CLIENT, PEERS, RING


def test_shared_memory_reads_and_confirmations_are_checked_like_reads() -> None:
    guard = StorageGuard(RING)
    mine = random_object_id(b"Client|c")
    client, other, worker = PEERS["client"].public_key, OTHER_CLIENT.public_key, PEERS["worker"].public_key
    assert guard.check(client, m.ObjectPut(mine, 0, "scaler-" + "0" * 32)) is None  # a put naming a segment
    assert guard.check(other, m.ObjectGet(mine, 1, True, True)) is not None  # never handed another's segment name
    assert guard.check(other, m.ObjectMapped((mine,))) is not None  # nor may it consume another's read-once object
    assert guard.check(client, m.ObjectGet(mine, 1, True, True)) is None
    assert guard.check(client, m.ObjectMapped((mine,))) is None
    assert guard.check(worker, m.ObjectGet(mine, 1, False, True)) is None
    assert guard.check(worker, m.SharedMemoryProbe(1, "scaler-" + "1" * 32, b"t" * 16)) is None
    assert guard.check(new_server_credentials().public_key, m.SharedMemoryProbe(1, "x", b"")) is not None


def large_sum(array: Any) -> tuple[int, str]:
    base = array
    while getattr(base, "base", None) is not None:  # the array's views, down to the buffer it was built on
        base = base.base
    return int(array.sum()), type(base.obj if isinstance(base, memoryview) else base).__name__


def test_a_secured_cluster_passes_large_objects_through_shared_memory(tmp_path: Path) -> None:
    import numpy

    make_keys(tmp_path, {"alice": "client"})
    with (
        SchedulerClusterCombo(
            n_workers=1, secure=True, credentials=tmp_path / "scheduler.toml", logging_level="WARNING"
        ) as combo,
        Client(combo.get_address(), credentials=tmp_path / "alice.toml") as client,
    ):
        # The client probes storage once after connecting; large objects use shared memory from its answer on.
        wait_until(lambda: client._agent.uploads.segments is not None, timeout=30)
        array = numpy.ones(2 << 20, dtype=numpy.uint8)
        assert client.submit(large_sum, array).result(timeout=60) == (2 << 20, "mmap")
        assert len(client.submit(bytes, 3 << 20).result(timeout=60)) == 3 << 20  # a large result, mapped back
