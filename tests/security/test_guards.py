"""The role tables and ownership rules, driven directly (no sockets)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from scaler.cli import keys
from scaler.ids import owner_prefix, random_object_id
from scaler.protocol import messages as m
from scaler.security.credentials import (
    Identity,
    PeerCredentials,
    new_peer_credentials,
    new_server_credentials,
)
from scaler.security.keyring import KeyRing
from scaler.security.roles import SchedulerGuard, StorageGuard
from tests.security.conftest import key_ring_with

SERVER = new_server_credentials()
PEERS = {role: new_peer_credentials(SERVER, role, role) for role in ("client", "worker", "manager", "admin")}
OTHER_CLIENT = new_peer_credentials(SERVER, "other", "client")
RING = KeyRing(
    type(SERVER)(
        SERVER.public_key,
        SERVER.secret_key,
        {peer.public_key: Identity(peer.name, peer.role) for peer in (*PEERS.values(), OTHER_CLIENT)},
    )
)


def _never_running(_task_id: bytes, _workers: Collection[bytes]) -> bytes | None:
    return None


def _check(
    guard: SchedulerGuard, peer: bytes, credentials: PeerCredentials, message: object, running: object = _never_running
) -> str | None:
    who = guard.admit(peer, credentials.public_key)
    assert isinstance(who, Identity), who
    return guard.check(peer, credentials.public_key, who, message, running)  # type: ignore[arg-type]


def _task(client_id: bytes) -> m.Task:
    return m.Task(b"t" * 16, client_id, b"f" * 32, b"", (), {}, {}, 0, 0, "f")


def test_each_role_sends_only_its_own_messages() -> None:
    guard = SchedulerGuard(RING)
    heartbeat = m.WorkerHeartbeat(m.PROTOCOL_VERSION, {}, 1, 0, "", "h", 0.0, 0, 0, (), 0)
    manager_heartbeat = m.WorkerManagerHeartbeat(m.PROTOCOL_VERSION, "m", 1, {}, 0)
    assert _check(guard, b"Client|c", PEERS["client"], _task(b"Client|c")) is None
    assert _check(guard, b"Client|c", PEERS["client"], heartbeat) is not None  # a client posing as a worker
    assert _check(guard, b"Client|c", PEERS["client"], manager_heartbeat) is not None
    assert _check(guard, b"Worker|w", PEERS["worker"], heartbeat) is None
    assert "inside a running task" in (_check(guard, b"Worker|w", PEERS["worker"], _task(b"Worker|w")) or "")
    assert _check(guard, b"Worker|w", PEERS["worker"], manager_heartbeat) is not None
    assert _check(guard, b"Mgr|m", PEERS["manager"], manager_heartbeat) is None
    assert _check(guard, b"Mgr|m", PEERS["manager"], m.WorkerDied(b"Worker|w", 1)) is None
    assert _check(guard, b"Worker|w", PEERS["worker"], m.WorkerDied(b"Worker|x", 1)) is not None


def test_only_an_admin_shuts_down_and_a_task_names_its_sender() -> None:
    guard = SchedulerGuard(RING)
    for role in ("client", "worker", "manager"):
        refusal = _check(guard, f"Client|{role}".encode(), PEERS[role], m.ClientDisconnect(True))
        assert "only an admin" in (refusal or "")
    assert _check(guard, b"Client|a", PEERS["admin"], m.ClientDisconnect(True)) is None
    assert _check(guard, b"Client|c", PEERS["client"], m.ClientDisconnect(False)) is None
    assert "another client" in (_check(guard, b"Client|c", PEERS["client"], _task(b"Client|victim")) or "")


def test_a_worker_submits_only_through_a_nested_client_of_a_task_it_runs() -> None:
    """The task (b"T" * 16, of Client|alice) runs on Worker|w, which holds the worker key; nothing else runs."""
    running = {b"T" * 16: (b"Client|alice", b"Worker|w")}

    def client_of_running(task_id: bytes, workers: Collection[bytes]) -> bytes | None:
        entry = running.get(task_id)
        return entry[0] if entry is not None and entry[1] in workers else None

    guard = SchedulerGuard(RING)
    worker, manager = PEERS["worker"], PEERS["manager"]
    heartbeat = m.WorkerHeartbeat(m.PROTOCOL_VERSION, {}, 1, 0, "", "h", 0.0, 0, 0, (), 0)
    assert _check(guard, b"Worker|w", worker, heartbeat, client_of_running) is None
    assert _check(guard, b"Mgr|m", manager, m.WorkerManagerHeartbeat(m.PROTOCOL_VERSION, "m", 1, {}, 0)) is None

    def submit(peer: bytes, credentials: PeerCredentials, parent: bytes) -> str | None:
        hello = m.ClientHeartbeat(m.PROTOCOL_VERSION, peer, 0.0, 0, parent)
        assert _check(guard, peer, credentials, hello, client_of_running) is None  # connecting is not refused
        graph = m.GraphTask(b"g" * 16, (m.GraphNode(_task(peer), ()),), (b"t" * 16,))
        task_refusal = _check(guard, peer, credentials, _task(peer), client_of_running)
        assert _check(guard, peer, credentials, graph, client_of_running) == task_refusal
        return task_refusal

    assert submit(b"Client|nested", worker, b"T" * 16) is None  # for alice, while her task runs on Worker|w
    # The same key's worker runs a task, but this client names none, or one that is not running, or it is under
    # another key (the manager's) than the worker that runs the task: refused, so no one is impersonated.
    for peer, credentials, parent in (
        (b"Client|untagged", worker, b""),
        (b"Client|stale", worker, b"U" * 16),
        (b"Client|elsewhere", manager, b"T" * 16),
    ):
        assert "for that task's client" in (submit(peer, credentials, parent) or ""), peer
    del running[b"T" * 16]  # alice's task ended: its nested client may no longer submit
    assert submit(b"Client|nested", worker, b"T" * 16) is not None


def test_an_identity_belongs_to_the_first_key_that_used_it() -> None:
    guard = SchedulerGuard(RING)
    assert isinstance(guard.admit(b"Client|c", PEERS["client"].public_key), Identity)
    assert "belongs to another key" in str(guard.admit(b"Client|c", OTHER_CLIENT.public_key))
    assert "unknown" in str(guard.admit(b"Client|x", new_server_credentials().public_key))
    assert guard.forget(PEERS["client"].public_key) == {b"Client|c"}
    assert isinstance(guard.admit(b"Client|c", OTHER_CLIENT.public_key), Identity)  # free once revoked


def test_clients_touch_only_their_own_objects_workers_any_but_never_delete_an_owner() -> None:
    guard = StorageGuard(RING)
    mine, theirs = random_object_id(b"Client|c"), random_object_id(b"Client|o")
    client, other, worker = PEERS["client"].public_key, OTHER_CLIENT.public_key, PEERS["worker"].public_key
    assert guard.check(client, m.ObjectPut(mine, 0)) is None  # the first key to use a prefix holds it
    assert guard.check(other, m.ObjectPut(theirs, 0)) is None
    assert guard.check(other, m.ObjectGet(mine, 1, False)) is not None
    assert guard.check(other, m.ObjectDelete((theirs, mine), 1)) is not None
    assert guard.check(other, m.ObjectDeleteOwner(owner_prefix(b"Client|c"), 1)) is not None
    assert guard.check(client, m.ObjectGet(mine, 1, False)) is None
    assert guard.check(worker, m.ObjectGet(mine, 1, False)) is None
    assert guard.check(worker, m.ObjectPut(random_object_id(b"Client|c"), 0)) is None  # a result
    assert guard.check(worker, m.ObjectDeleteOwner(owner_prefix(b"Client|c"), 1)) is not None
    assert guard.check(client, m.ObjectStats(1)) is None
    assert guard.check(new_server_credentials().public_key, m.ObjectStats(1)) is not None


def test_every_message_the_scheduler_handles_has_roles() -> None:
    """A message type the scheduler core handles but the role table does not list would be refused from everyone
    on a secured cluster (as submit credits and task-started notices once were)."""
    from scaler.scheduler.core import SchedulerCore
    from scaler.security.roles import SCHEDULER_PERMISSIONS

    missing = sorted(kind.__name__ for kind in SchedulerCore._handlers if kind not in SCHEDULER_PERMISSIONS)
    assert missing == []


def test_a_peer_admitted_before_its_key_was_revoked_is_refused_after_the_reload(tmp_path: Path) -> None:
    """Admission is remembered per peer (one lookup per frame), but never across a reload of the keys."""
    client, ring = key_ring_with(tmp_path, "c1", "client")
    guard = SchedulerGuard(ring)
    for _ in range(2):  # the second admission is the remembered one
        who = guard.admit(b"Client|c1", client.public_key)
        assert isinstance(who, Identity) and who.role == "client"
    keys.main(["revoke", str(tmp_path), "--name", "c1"])
    ring.reload()
    assert "unknown or revoked key" in str(guard.admit(b"Client|c1", client.public_key))


def test_identities_of_departed_peers_are_forgotten_once_the_table_has_grown() -> None:
    guard = SchedulerGuard(RING)
    key = PEERS["client"].public_key
    departed = [f"Client|{n}".encode() for n in range(1500)]
    for peer in departed:
        assert isinstance(guard.admit(peer, key), Identity)
    live = {b"Client|live"}
    assert isinstance(guard.admit(b"Client|live", key), Identity)
    asked: list[int] = []

    def live_peers() -> set[bytes]:
        asked.append(1)
        return live

    guard.prune(live, live_peers)
    assert asked and guard.peers_of(key) == live
    assert isinstance(guard.admit(departed[0], OTHER_CLIENT.public_key), Identity)  # that identity is free again
    guard.prune(live, live_peers)
    assert len(asked) == 1  # not asked again until the table grows anew
