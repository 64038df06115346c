"""Each role tries what it must not do against a secured cluster, and a peer with no keys tries everything."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zmq

from scaler import AuthenticationError, Client, SchedulerClusterCombo
from scaler.client.arguments import PayloadEncoder
from scaler.errors import ShutdownRefusedError, TaskRejectedError
from scaler.io.sockets import connect_dealer
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.security.credentials import new_peer_credentials, new_server_credentials
from scaler.serialization import DEFAULT_SERIALIZER
from tests.conftest import wait_until
from tests.security.conftest import SecuredCluster


def _attack_without_keys(scheduler: str, storage: str, marker: Path) -> tuple[zmq.Context[Any], list[zmq.Socket[Any]]]:
    """What the issue's attacker did: upload a function and submit it as a task, with a raw socket and no keys."""

    def make_marker(path: str) -> None:
        Path(path).write_text("ran")

    context: zmq.Context[Any] = zmq.Context()
    attacker = b"Client|attacker"
    to_storage = connect_dealer(context, storage, attacker + b"|storage", None)
    to_scheduler = connect_dealer(context, scheduler, attacker, None)

    def upload(frames: list[Any], request_id: int = 0) -> None:
        to_storage.send_multipart(frames)

    encoder = PayloadEncoder(attacker, DEFAULT_SERIALIZER, upload, lambda _: None)
    function_id = encoder.function_id(make_marker)
    arguments, keywords, _ = encoder.call_arguments((str(marker),), {}, False)
    task = m.Task(os.urandom(16), attacker, function_id, b"", arguments, keywords, {}, 0, 0, "make_marker")
    to_scheduler.send(codec.encode([m.ClientHeartbeat(m.PROTOCOL_VERSION, attacker, 0.0, 0), task]))
    return context, [to_storage, to_scheduler]  # kept alive by the caller: a collected socket drops its queue


def test_the_attack_works_on_an_unsecured_cluster(tmp_path: Path) -> None:
    """The control: the same raw messages run code on a cluster without credentials (so the test below can fail)."""
    marker = tmp_path / "ran"
    with SchedulerClusterCombo(n_workers=1, secure=False, logging_level="WARNING") as combo:
        context, _sockets = _attack_without_keys(combo.get_address(), combo.object_storage_address, marker)
        try:
            wait_until(marker.exists, timeout=60)
        finally:
            context.destroy(linger=0)


def test_a_peer_without_keys_runs_nothing_and_gets_nothing(secured: SecuredCluster, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    context, sockets = _attack_without_keys(secured.address, secured.combo.object_storage_address, marker)
    try:
        with Client(secured.address, credentials=secured.file("alice")) as client:
            # Submitted after the attack and done: the cluster served everything that reached it meanwhile.
            assert client.submit(pow, 2, 5).result(timeout=60) == 32
            assert client.submit(pow, 3, 2).result(timeout=60) == 9
        assert not marker.exists()
        for socket in sockets:
            assert not socket.poll(0), "a peer with no keys received an answer"
    finally:
        context.destroy(linger=0)


@pytest.mark.parametrize("credentials", ["none", "unknown key"])
def test_a_client_without_valid_credentials_gets_an_authentication_error(
    secured: SecuredCluster, credentials: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SCALER_CREDENTIALS", raising=False)
    monkeypatch.setenv("SCALER_RUNTIME_DIR", str(tmp_path))  # another user: the owner's published file is not there
    stranger = new_peer_credentials(new_server_credentials(), "stranger", "client")
    unknown = new_peer_credentials(new_server_credentials(), "x", "client")
    # A key pair the scheduler never authorized, but with the right scheduler key: refused by the ZAP handler.
    unknown = type(unknown)(
        "x", "client", stranger.public_key, stranger.secret_key, secured.peer("alice").server_public_key
    )
    started = time.monotonic()
    with pytest.raises(AuthenticationError, match="credentials"):
        if credentials == "none":
            from scaler.security.local import register_local_cluster

            register_local_cluster([secured.address], None)  # as a process other than the combo's own
            try:
                Client(secured.address, timeout_seconds=30)
            finally:
                register_local_cluster([secured.address], secured.combo.owner_credentials)
        else:
            Client(secured.address, credentials=unknown, timeout_seconds=30)
    assert time.monotonic() - started < 30  # refused at the handshake, not after the timeout


def test_a_worker_cannot_submit_a_top_level_task(secured: SecuredCluster) -> None:
    with Client(secured.address, credentials=secured.file("w")) as client:
        with pytest.raises(TaskRejectedError, match="only from inside a running task"):
            client.submit(pow, 2, 3).result(timeout=60)


def test_a_worker_cannot_submit_a_top_level_graph(secured: SecuredCluster) -> None:
    """Refused like a task: the futures fail at once with the reason, instead of waiting for the client's timeout."""
    graph = {"x": 2, "y": (pow, "x", 3), "z": (abs, "y")}
    with Client(secured.address, credentials=secured.file("w"), timeout_seconds=600) as client:
        futures = client.get(graph, ["y", "z"], block=False)
        for future in futures.values():
            with pytest.raises(TaskRejectedError, match="only from inside a running task"):
                future.result(timeout=60)


def test_a_client_cannot_cancel_another_clients_task(secured: SecuredCluster, tmp_path: Path) -> None:
    gate, started = tmp_path / "gate", tmp_path / "started"
    wait_for_gate = _gate_waiter()

    context: zmq.Context[Any] = zmq.Context()
    with Client(secured.address, credentials=secured.file("alice")) as alice:
        future = alice.submit(wait_for_gate, str(gate), str(started))
        wait_until(started.exists, timeout=60)  # running: a cancel that got through would kill it
        cancel = codec.encode([m.TaskCancel(future.task_id, True)])
        try:
            # Posing as alice: bob's key under alice's send-only identity. Refused: that identity is alice's key's.
            impostor = connect_dealer(context, secured.address, alice.identity + b"|tx", secured.peer("bob"))
            impostor.send(cancel)
            # As bob himself: the scheduler answers that bob has no such task.
            bob = connect_dealer(context, secured.address, b"Client|bob", secured.peer("bob"))
            bob.send(cancel)
            assert bob.poll(30_000), "no answer to bob's cancel"
            assert codec.decode(bob.recv()) == [m.TaskCancelConfirm(future.task_id, m.CancelOutcome.NOT_FOUND)]
            gate.write_text("open")
            assert future.result(timeout=60) == "finished"
        finally:
            context.destroy(linger=0)


def test_a_client_cannot_read_another_clients_object(secured: SecuredCluster) -> None:
    with Client(secured.address, credentials=secured.file("alice")) as alice:
        reference = alice.send_object(b"alice's secret " * 1000)
        storage = secured.combo.object_storage_address
        context: zmq.Context[Any] = zmq.Context()
        try:
            for name, expected in (("alice", True), ("bob", False)):
                socket = connect_dealer(context, storage, f"Client|{name}-reader".encode(), secured.peer(name))
                socket.send(codec.encode_one(m.ObjectGet(reference.object_id, 7, False)))
                assert socket.poll(30_000), f"{name} got no answer"
                header = codec.decode(socket.recv_multipart()[0])[0]
                assert isinstance(header, m.ObjectData) and header.found is expected
            # bob cannot delete it either, nor everything alice owns
            socket.send(codec.encode_one(m.ObjectDeleteOwner(reference.object_id[:16], 8)))
            assert socket.poll(30_000)
            assert codec.decode(socket.recv_multipart()[0])[0] == m.ObjectAck(8, 0)
        finally:
            context.destroy(linger=0)


def test_only_an_admin_may_shut_the_scheduler_down(secured: SecuredCluster) -> None:
    for name in ("alice", "w", "m"):
        with Client(secured.address, credentials=secured.file(name)) as client:
            with pytest.raises(ShutdownRefusedError, match="only an admin"):
                client.shutdown()
    with Client(secured.address, credentials=secured.file("alice")) as client:
        assert client.submit(pow, 2, 4).result(timeout=60) == 16  # still running


def test_only_an_admin_reads_the_monitor_stream(secured: SecuredCluster) -> None:
    monitor = secured.combo._own_addresses[2]
    context: zmq.Context[Any] = zmq.Context()
    try:
        subscribers = {}
        for name in ("m", "ops"):
            socket = context.socket(zmq.SUB)
            socket.setsockopt(zmq.SUBSCRIBE, b"")
            from scaler.io.sockets import secure_client

            secure_client(socket, monitor, secured.peer(name))
            socket.connect(monitor)
            subscribers[name] = socket
        received = 0
        deadline = time.monotonic() + 60
        while received < 3 and time.monotonic() < deadline:  # statuses come every second
            if subscribers["ops"].poll(1000):
                subscribers["ops"].recv()
                received += 1
        assert received == 3
        assert not subscribers["m"].poll(0), "a manager read the monitor stream"
    finally:
        context.destroy(linger=0)


def test_a_task_may_submit_nested_tasks(secured: SecuredCluster) -> None:
    def fan_out(n: int) -> int:
        from scaler import Client as NestedClient

        with NestedClient() as nested:  # the worker's key, for this task's client, while this task runs
            return sum(nested.map(abs, range(-n, 0)))

    with Client(secured.address, credentials=secured.file("alice")) as client:
        assert client.submit(fan_out, 4).result(timeout=120) == 10


def test_a_worker_key_cannot_submit_for_a_client_whose_task_it_is_not_running(
    secured: SecuredCluster, tmp_path: Path
) -> None:
    """A raw peer with the key of the worker that runs alice's task: while that task runs it may act for alice only
    through a client that names the task; naming nothing, or a task that is not running, gets a refusal."""
    gate, started = tmp_path / "gate", tmp_path / "started"
    wait_for_gate = _gate_waiter()

    workers_key = secured.combo._keys.worker  # type: ignore[union-attr]
    context: zmq.Context[Any] = zmq.Context()
    with Client(secured.address, credentials=secured.file("alice")) as alice:
        finished = alice.submit(pow, 2, 2)
        assert finished.result(timeout=60) == 4
        future = alice.submit(wait_for_gate, str(gate), str(started))
        wait_until(started.exists, timeout=60)  # alice's task runs on the worker holding workers_key
        try:
            for name, parent in (("untagged", b""), ("stale", finished.task_id)):
                identity = f"Client|forger-{name}".encode()
                forger = connect_dealer(context, secured.address, identity, workers_key)
                task = m.Task(os.urandom(16), identity, b"f" * 32, b"", (), {}, {}, 0, 0, "forged")
                hello = m.ClientHeartbeat(m.PROTOCOL_VERSION, identity, 0.0, 0, parent)
                forger.send(codec.encode([hello, task]))
                answers: list[Any] = []
                deadline = time.monotonic() + 60
                while not any(isinstance(a, m.TaskResult) for a in answers) and time.monotonic() < deadline:
                    if forger.poll(1000):
                        answers.extend(codec.decode(forger.recv()))
                results = [a for a in answers if isinstance(a, m.TaskResult)]
                assert [r.task_id for r in results] == [task.task_id], f"{name}: no refusal"
                assert results[0].status is m.ResultStatus.SCHEDULER_ERROR
                assert results[0].payload is not None and b"for that task's client" in results[0].payload.data
            gate.write_text("open")
            assert future.result(timeout=60) == "finished"
        finally:
            context.destroy(linger=0)


def _gate_waiter() -> Callable[[str, str], str]:
    """A task that says it started and runs until a gate file appears (a local function: it travels by value)."""

    def wait_for_gate(gate_path: str, started_path: str) -> str:
        Path(started_path).write_text("running")
        while not Path(gate_path).exists():
            time.sleep(0.01)
        return "finished"

    return wait_for_gate
