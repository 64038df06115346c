"""A read through shared memory passes the same checks as a read over TCP (no sockets)."""

from __future__ import annotations

from scaler.ids import random_object_id
from scaler.protocol import messages as m
from scaler.security.credentials import new_server_credentials
from scaler.security.roles import StorageGuard
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
